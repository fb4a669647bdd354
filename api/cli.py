"""`plantctl users …`: account administration from the host, for the first admin before the service starts."""

from __future__ import annotations

from typing import Annotated

import typer

from api.auth.bootstrap import add_user, remove_demo_users
from api.auth.roles import Role
from api.auth.store import UserError
from api.settings import MIN_PASSWORD_LENGTH

users_app = typer.Typer(help="Users of the API (roles: viewer < operator < engineer < admin).", no_args_is_help=True)



@users_app.callback()
def users() -> None:
    """Users of the API: the first admin is created here before a production start."""


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="user name: a-z first, then a-z 0-9 _ . -")],
    role: Annotated[str, typer.Option(help="viewer, operator, engineer or admin")] = "viewer",
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                          help=f"at least {MIN_PASSWORD_LENGTH} characters (prompted)")] = "",
) -> None:
    """Create a user in the plant database (PLANTCTL_DATABASE_URL, else the local database)."""
    from plantctl.db import database_url

    try:
        parsed = Role.parse(role)
        add_user(database_url(), name, parsed, password)
    except (UserError, ValueError) as exc:
        typer.echo(f"plantctl users add: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"user {name!r} created with role {parsed.label}")


@users_app.command("purge-demo")
def users_purge_demo() -> None:
    """Delete the demo accounts (their passwords were printed by a demo start) before a production start."""
    from plantctl.db import database_url

    removed = remove_demo_users(database_url())
    typer.echo(f"removed demo users: {', '.join(removed)}" if removed else "no demo users in this database")
