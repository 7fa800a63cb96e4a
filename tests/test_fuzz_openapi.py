"""Bounded fuzzing of every operation of `/openapi.json` against the live ASGI gateway
(docs/security.md#what-isolates-teams: hostile input answers 4xx, never 5xx).

Schemathesis generates requests from the served document (so a new route is fuzzed
automatically), with a fixed number of generated examples per operation and Hypothesis
derandomized: the run is the same every time and stays well under a minute. The schema's own
examples (the explicit phase) are left out: there are dozens per operation and they took most
of the time. The only check is that no answer is a server error."""
import base64

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

EXAMPLES_PER_OPERATION = 20  # ~25 s at load 6 on 2 cores
AUTH = {"Authorization": "Basic " + base64.b64encode(b"fuzzer:").decode()}


@pytest.fixture
def api_schema(gateway):
    document = httpx.get(f"{gateway}/openapi.json", timeout=30).json()
    return schemathesis.openapi.from_dict(document)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None, database=None,
          phases=[Phase.generate], suppress_health_check=list(HealthCheck))
def test_no_operation_answers_a_server_error(case, gateway):
    case.headers = {**(case.headers or {}), **AUTH}  # as a caller: authorization is not fuzzed
    response = case.call(base_url=gateway, timeout=10)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} answered {response.status_code}: {response.text[:500]}\n"
        f"reproduce: {case.as_curl_command()}")
