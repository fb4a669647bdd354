"""Property-based fuzz of the whole API from its own OpenAPI schema (schemathesis), once with each role's
token: no 5xx, no answer outside the documented schema, whatever the caller may or may not do."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.auth.bootstrap import prepare_auth
from api.settings import ApiSettings
from plantctl.plantfile import load_plant
from tests.api.conftest import EXAMPLE_PLANT, ROLES, PlantServer, create_database, login

EXAMPLES_PER_OPERATION = 5  # ~35 operations × 4 roles: about a minute on two shared cores
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]


@pytest.fixture(scope="module")
def fuzz_target(db_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A service of its own (the fuzz changes users and loops), and an API token per role that logout cannot end."""
    name = f"api_fuzz_{secrets.token_hex(4)}"
    url = create_database(db_server, name)
    password = secrets.token_urlsafe(16)
    prepare_auth(ApiSettings(mode="production", database_url=url, admin_user="admin", admin_password=password))
    server = PlantServer(load_plant(EXAMPLE_PLANT), url, tmp_path_factory.mktemp("fuzz-state"))
    try:
        base = server.start(login_free_failures=100, login_address_free_failures=100_000)
        admin = login(base, "admin", password)
        tokens = {}
        for role in ROLES:
            r = httpx.post(f"{base}/api/v1/tokens", json={"name": f"fuzz-{role}", "role": role}, headers=admin.bearer)
            tokens[role] = r.json()["token"]
        yield base, tokens
    finally:
        server.stop()
        db_server.drop_database(name)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("role", ROLES)
def test_every_operation_survives_generated_requests(fuzz_target: tuple[str, dict[str, str]], role: str) -> None:
    base, tokens = fuzz_target
    headers = {"Authorization": f"Bearer {tokens[role]}"}
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json", headers=headers).exclude(
        path="/api/v1/live/stream")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    for op in operations:
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call(base_url=base, headers=headers)
            case.validate_response(response, checks=CHECKS)

        try:
            fuzz()
        except Exception as exc:
            raise AssertionError(f"{role}: {op.method.upper()} {op.path}: {exc}") from exc
