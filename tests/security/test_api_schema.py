"""A bounded schemathesis run over serve-api's OpenAPI schema: no generated request may get a
5xx or a traceback, and every error is a JSON error body.

Cases are drawn with Hypothesis from each operation of the live server's ``/openapi.json``
(25 per operation, derandomized so the run is repeatable), on loopback.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

pytestmark = pytest.mark.timeout(600)


def test_no_generated_request_gets_a_server_error(api):
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert any(op.path == "/v1/chat/completions" for op in operations)
    seen: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def check(case) -> None:
            if isinstance(case.body, dict):
                case.body["max_tokens"] = 2  # keep each generation short on two CPU cores
            response = case.call(base_url=api.url, timeout=60)
            seen.append(response.status_code)
            assert response.status_code < 500, response.text
            assert "Traceback" not in response.text
            if response.status_code >= 400:
                body = response.json()
                assert "error" in body or "detail" in body

        check()
    assert len(seen) >= 25 and any(400 <= s < 500 for s in seen)
