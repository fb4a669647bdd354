"""The session `plantctl browse` and `plantctl probe opcua` open: the same security options as a source.

Security comes from flags (mode, policy, client certificate and key, user and password by environment
variable, the PKI folder whose `trusted/` is the service's trust list) or from a plant file's source,
flags overriding it. A server certificate not yet trusted is shown with its SHA-256 thumbprint and
trusted only once the engineer says so: at a terminal by answering, otherwise with
`--trust-thumbprint <hex>` matching it (a source's own `trust_on_first_use` trusts an empty list).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.uaerrors import UaError
from cryptography import x509

from connectors.opcua.config import OpcUaSourceConfig, SecurityMode, SecurityPolicy
from connectors.opcua.security import (
    ClientIdentity,
    SecuritySetupError,
    check_validity,
    fingerprint,
    first_certificate,
    identity_from_files,
    pki_dir_of,
    secure_client,
    trust,
    trusted_fingerprints,
)

Confirm = Callable[[x509.Certificate, str], bool]
"""Asked with a server certificate not yet trusted and its SHA-256 thumbprint: trust it?"""

# The options both commands take, spelled as a source spells them.
ConfigOpt = Annotated[Path | None, typer.Option(
    help="plant file whose --source entry gives the security (mode, policy, pki_dir, *_env credentials)")]
SourceOpt = Annotated[str, typer.Option(help="the OPC UA source's name (in --config; names pki/<source>)")]
ModeOpt = Annotated[SecurityMode | None, typer.Option(
    "--security-mode", help="None, Sign or SignAndEncrypt (default: the source's, else None)")]
PolicyOpt = Annotated[SecurityPolicy | None, typer.Option(
    "--security-policy", help="Basic256Sha256 (default with Sign/SignAndEncrypt) or None")]
CertOpt = Annotated[Path | None, typer.Option(
    "--cert", help="our client certificate (DER or PEM, URI in its subjectAltName); default: pki/<source>/own")]
KeyOpt = Annotated[Path | None, typer.Option("--key", help="the private key of --cert (PEM)")]
UserEnvOpt = Annotated[str | None, typer.Option(help="environment variable holding the user name")]
PasswordEnvOpt = Annotated[str | None, typer.Option(
    help="environment variable holding the password (never the password itself)")]
PkiOpt = Annotated[Path | None, typer.Option(
    help="PKI folder; its trusted/ is the service's trust list (default: the source's pki_dir, else pki/<source>)")]
ThumbprintOpt = Annotated[str | None, typer.Option(
    help="trust the server's certificate if its SHA-256 thumbprint is this (hex, colons allowed): "
         "for scripts, where no one can answer the question")]


_FLAG_OPTIONS = (("security_mode", ModeOpt), ("security_policy", PolicyOpt), ("cert", CertOpt), ("key", KeyOpt),
                 ("username_env", UserEnvOpt), ("password_env", PasswordEnvOpt), ("pki_dir", PkiOpt),
                 ("trust_thumbprint", ThumbprintOpt))


@dataclass(frozen=True, slots=True)
class SecurityFlags:
    """What the engineer typed; None leaves the plant file's source (or the default) alone."""

    mode: SecurityMode | None = None
    policy: SecurityPolicy | None = None
    cert: Path | None = None
    key: Path | None = None
    username_env: str | None = None
    password_env: str | None = None
    pki_dir: Path | None = None
    trust_thumbprint: str | None = None


def security_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give a tool command the security options every OPC UA tool takes, spelled and explained once: typer
    sees them as options after the command's own, the command receives them as its `flags: SecurityFlags`."""
    signature = inspect.signature(command, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "flags"]
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
             for name, annotation in _FLAG_OPTIONS]

    @functools.wraps(command)
    def with_flags(*args: Any, **kwargs: Any) -> None:
        flags = SecurityFlags(*(kwargs.pop(name) for name, _ in _FLAG_OPTIONS))
        command(*args, flags=flags, **kwargs)

    with_flags.__signature__ = signature.replace(parameters=[*own, *added])  # type: ignore[attr-defined]
    with_flags.__annotations__ = {p.name: p.annotation for p in (*own, *added)}
    return with_flags


@dataclass(frozen=True, slots=True)
class ToolSession:
    """How a tool opens its session: the source settings, our client identity, who confirms a new server."""

    config: OpcUaSourceConfig
    identity: ClientIdentity | None
    confirm: Confirm


def tool_session(endpoint: str, source: str, flags: SecurityFlags, plant_file: Path | None,
                 command: str) -> ToolSession:
    """The session the command line asks for: the plant file's --source with the flags laid over it."""
    config = session_config(endpoint, source, flags, plant_source(plant_file, source, command))
    return ToolSession(config, client_identity(flags), engineer_confirms(flags.trust_thumbprint))


def session_config(endpoint: str, source: str, flags: SecurityFlags,
                   plant_source: OpcUaSourceConfig | None = None) -> OpcUaSourceConfig:
    """The source settings the session uses: the plant file's source (if any) with the flags laid over it."""
    base = plant_source.model_dump(exclude_unset=True) if plant_source is not None else {
        "kind": "opcua", "name": source, "allow_insecure": True}  # ad hoc: the engineer chose the mode by flag
    base["endpoint"] = endpoint
    mode = flags.mode
    if mode is not None or flags.policy is not None:
        current = plant_source.security if plant_source is not None else None
        mode = mode or (current.mode if current is not None else SecurityMode.NONE)
        policy = flags.policy or (SecurityPolicy.NONE if mode is SecurityMode.NONE else SecurityPolicy.BASIC256SHA256)
        base["security"] = {"mode": mode, "policy": policy}
        base["allow_insecure"] = True  # an explicit flag is the engineer's choice on the spot
    for field in ("username_env", "password_env"):
        if getattr(flags, field) is not None:
            base[field] = getattr(flags, field)
    if flags.pki_dir is not None:
        base["pki_dir"] = str(flags.pki_dir)
    if base.get("username_env") or base.get("password_env"):  # a password never crosses the network in clear
        base["allow_insecure"] = plant_source.allow_insecure if plant_source is not None else False
    try:
        return OpcUaSourceConfig.model_validate(base)
    except ValueError as exc:
        raise SecuritySetupError(str(exc).replace("\n", " ")) from exc


def client_identity(flags: SecurityFlags) -> ClientIdentity | None:
    """--cert and --key, both or neither."""
    if flags.cert is None and flags.key is None:
        return None
    if flags.cert is None or flags.key is None:
        raise SecuritySetupError("--cert and --key go together: the certificate and its private key")
    return identity_from_files(flags.cert, flags.key)


def _normal_hex(text: str) -> str:
    return text.replace(":", "").replace(" ", "").lower()


def spaced(thumbprint: str) -> str:
    """AB:CD:… as certificate viewers and PLC web pages show a thumbprint."""
    return ":".join(thumbprint[i:i + 2] for i in range(0, len(thumbprint), 2)).upper()


def describe(cert: x509.Certificate, thumbprint: str) -> str:
    return (f"server certificate {cert.subject.rfc4514_string()}, valid {cert.not_valid_before_utc:%Y-%m-%d} to "
            f"{cert.not_valid_after_utc:%Y-%m-%d}, SHA-256 thumbprint {spaced(thumbprint)}")


def engineer_confirms(trust_thumbprint: str | None, interactive: bool | None = None) -> Confirm:
    """Trust on first use as a field engineer does it: compare the thumbprint with the PLC's, then say yes."""
    at_terminal = sys.stdin.isatty() if interactive is None else interactive

    def confirm(cert: x509.Certificate, thumbprint: str) -> bool:
        shown = describe(cert, thumbprint)
        if trust_thumbprint is not None:
            if _normal_hex(trust_thumbprint) == thumbprint:
                print(f"trusting the {shown} (it matches --trust-thumbprint)", file=sys.stderr)
                return True
            raise SecuritySetupError(
                f"the {shown} does not match --trust-thumbprint {trust_thumbprint}: not trusted. "
                "Is this the PLC you meant? Check the thumbprint with its administrator")
        if not at_terminal:
            raise SecuritySetupError(
                f"the {shown} is not trusted yet. Check the thumbprint with the PLC's administrator, then run "
                f"again with --trust-thumbprint {thumbprint}")
        print(f"The {shown} is not trusted yet.\nCompare the thumbprint with the one the PLC shows.", file=sys.stderr)
        return typer.confirm("Trust this server certificate?", default=False, err=True)

    return confirm


async def server_certificate(config: OpcUaSourceConfig, timeout_s: float) -> bytes:
    """The certificate of the endpoint the config's security asks for (read from GetEndpoints)."""
    async with asyncio.timeout(timeout_s):
        endpoints = await Client(config.endpoint, timeout=timeout_s).connect_and_get_server_endpoints()
    mode = ua.MessageSecurityMode[config.security.mode.value]
    for ep in endpoints:
        if ep.SecurityMode == mode and ep.SecurityPolicyUri.rpartition("#")[2] == config.security.policy.value:
            der = first_certificate(ep.ServerCertificate or b"")
            if der:
                return der
    raise SecuritySetupError(
        f"the server offers no {config.security.policy.value}/{config.security.mode.value} endpoint with a "
        f"certificate{await offered_endpoints(config.endpoint, timeout_s)}")


async def trust_server(config: OpcUaSourceConfig, timeout_s: float, confirm: Confirm) -> Path | None:
    """Before a secured session: put the server's certificate in the trust list once the engineer confirmed it.

    Returns where it was stored (None: already trusted, or no security).
    """
    if config.security.mode is SecurityMode.NONE:
        return None
    der = await server_certificate(config, timeout_s)
    pki = pki_dir_of(config)
    known = trusted_fingerprints(pki / "trusted")
    thumbprint = fingerprint(der)
    if thumbprint in known:
        return None
    cert = x509.load_der_x509_certificate(der)
    check_validity(cert, pki)
    if config.trust_on_first_use and not known:
        print(f"trusting the {describe(cert, thumbprint)} (trust_on_first_use)", file=sys.stderr)
    elif not confirm(cert, thumbprint):
        raise SecuritySetupError(f"the {describe(cert, thumbprint)} was not trusted")
    return trust(der, pki)


async def offered_endpoints(endpoint: str, timeout_s: float) -> str:
    """The endpoints a server offers, as the source's security options spell them, to say what to ask for."""
    try:
        async with asyncio.timeout(timeout_s):
            endpoints = await Client(endpoint, timeout=timeout_s).connect_and_get_server_endpoints()
    except Exception:  # the hint is a courtesy; the original error stands on its own
        return ""
    rows = sorted({(ua.MessageSecurityMode(e.SecurityMode).name, e.SecurityPolicyUri.rpartition("#")[2],
                    ", ".join(sorted(ua.UserTokenType(t.TokenType).name for t in e.UserIdentityTokens)))
                   for e in endpoints})
    listed = "; ".join(f"mode {m}, policy {p} (users: {u})" for m, p, u in rows)
    return (f". The server offers: {listed}. Ask for one with --security-mode/--security-policy (and "
            "--username-env/--password-env for UserName), or browse --config PLANT --source NAME whose source has "
            "security: {mode: …, policy: …}")


async def open_session(config: OpcUaSourceConfig, timeout_s: float, confirm: Confirm | None = None,
                       identity: ClientIdentity | None = None) -> Client:
    """A connected client, its server trusted (asking `confirm` on first use); errors say what to do."""
    if confirm is not None:
        try:
            await trust_server(config, timeout_s, confirm)
        except (TimeoutError, OSError, UaError) as exc:
            raise SecuritySetupError(
                f"cannot reach {config.endpoint} for its certificate: {exc or type(exc).__name__}") from exc
    client = Client(config.endpoint, timeout=timeout_s)
    try:
        async with asyncio.timeout(timeout_s):
            await secure_client(client, config, identity)
            await client.connect()
    except SecuritySetupError:
        raise
    except (TimeoutError, OSError, UaError) as exc:
        client.disconnect_socket()
        offered = await offered_endpoints(config.endpoint, timeout_s) if "No matching endpoints" in str(exc) else ""
        raise SecuritySetupError(
            f"cannot open a session with {config.endpoint}: {exc or type(exc).__name__}{offered}") from exc
    return client


@asynccontextmanager
async def connected(config: OpcUaSourceConfig, timeout_s: float, confirm: Confirm | None = None,
                    identity: ClientIdentity | None = None) -> AsyncIterator[Client]:
    """open_session for the block's length, closed however it ends."""
    client = await open_session(config, timeout_s, confirm, identity)
    try:
        yield client
    finally:
        await close_session(client)


async def close_session(client: Client) -> None:
    try:
        await asyncio.wait_for(client.disconnect(), 2.0)
    except Exception:  # the answer is in hand; a slow goodbye must not hide it
        client.disconnect_socket()


def plant_source(config: Path | None, source: str, command: str) -> OpcUaSourceConfig | None:
    """The --source entry of the --config plant file (exit 2 with the reason when it is not usable)."""
    if config is None:
        return None
    from connectors.registry import schemas
    from plantctl.config import ConfigError
    from plantctl.config.load import load_plant

    try:
        plant = load_plant(config, schemas())
    except ConfigError as exc:
        print(f"{command} failed: {config} has errors; run plantctl check-config {config}", file=sys.stderr)
        raise typer.Exit(code=2) from exc
    found = next((s for s in plant.sources if s.name == source), None)
    if not isinstance(found, OpcUaSourceConfig):
        print(f"{command} failed: no OPC UA source {source!r} in {config}", file=sys.stderr)
        raise typer.Exit(code=2)
    return found
