"""Schemathesis fuzzes the API from its OpenAPI document (valid and invalid inputs): no 5xx anywhere.

The operations are driven with Hypothesis directly (schemathesis' lazy pytest loader does not run under
this pytest), against the real `hcml serve` process.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error

from .conftest import server_token

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 25  # per operation and generation mode: about a minute for the whole API on 2 cores


def _operations(server) -> list:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    ops = [result.ok() for result in schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in ops} >= {
        "POST /v1/annotate", "POST /v1/submissions", "GET /v1/submissions/{submission_id}", "GET /v1/audit"}
    return ops


def _fuzz(operation, mode, headers: dict[str, str] | None, examples: int, seen: dict) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        response = case.call(headers=headers)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        if response.status_code == 503 and case.path == "/v1/submissions":
            # documented: no Kafka here, so a well-formed submission cannot be queued; never for bad input
            assert "Retry-After" in response.headers and "Kafka" in response.json()["detail"]
            return
        case.validate_response(response, checks=[not_a_server_error])
        if headers is None and case.path.startswith("/v1/"):
            assert response.status_code == 401

    try:
        run()
    except Unsatisfiable:  # e.g. no invalid input exists for an operation without parameters
        seen.setdefault("unsatisfiable", 0)


def test_fuzz_with_an_admin_token_finds_no_server_error(server):
    headers = {"Authorization": f"Bearer {server_token(server, 'admin')}"}
    seen: dict = {}
    for op in _operations(server):
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            _fuzz(op, mode, headers, MAX_EXAMPLES, seen)
    assert not [s for s in seen if isinstance(s, int) and s >= 500]
    assert seen.get(200, 0) > 0 and seen.get(422, 0) > 0  # the fuzzer reached handlers and validation


def test_fuzz_without_a_token_is_always_401(server):
    seen: dict = {}
    for op in _operations(server):
        _fuzz(op, schemathesis.GenerationMode.NEGATIVE, None, 5, seen)
    assert seen.get(401, 0) > 0
