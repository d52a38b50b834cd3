"""Property-based test of the whole OpenAPI of the app: no generated request gets a 500.

Schemathesis generates requests from the app's own OpenAPI document (valid and invalid
parameters, headers and bodies) for every operation, a few examples each, so that the
test stays short; `derandomize` makes a failure reproducible.
"""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from api.app import create_app
from devicecare.config import Settings
from tests.support.notifier_support import notifier_settings

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 25


def test_no_generated_request_gets_a_server_error(stack: Settings, db_url: str) -> None:
    app = create_app(notifier_settings(stack), database=db_url)
    with TestClient(app):  # runs the lifespan, which opens the pool the routes use
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert operations, "the app documents its operations"
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def no_server_error(case: schemathesis.Case) -> None:
                case.call_and_validate(checks=[not_a_server_error])

            no_server_error()
