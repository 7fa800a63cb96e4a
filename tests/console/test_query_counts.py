"""List pages and the dashboard issue the same number of queries whatever their size."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from endpoints import infra_state
from endpoints.models import EndpointEvent
from llmengine_site.services import api_key_create
from tests.console.conftest import make_endpoint

pytestmark = pytest.mark.django_db


def grow(count: int, start: int) -> None:
    """`count` more endpoints of each kind, with events, observed state and an API key each."""
    for index in range(start, start + count):
        endpoint = make_endpoint(f"endpoint-{index}", endpoint_type="async" if index % 2 else "sync",
                                 status="UPDATE_FAILED" if index % 3 == 0 else "READY", status_reason="why")
        EndpointEvent.objects.create(endpoint=endpoint, old_status="UPDATE_PENDING", new_status=endpoint.status)
        infra_state.write_states({endpoint.pk: {"available_workers": 1, "num_queued_items": index, "pods": []}})
        api_key_create(user_id=f"user-{index}", team_id="team-a")


def queries_for(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


PAGES = [
    "admin:index",
    "admin:endpoints_modelendpoint_changelist",
    "admin:endpoints_endpointevent_changelist",
    "admin:endpoints_modelbundle_changelist",
    "admin:llmengine_site_apikey_changelist",
    "admin:endpoints_recommendedhardware_changelist",
    "admin:endpoints_modelrepository_changelist",
]


@pytest.mark.parametrize("page", PAGES)
def test_page_queries_do_not_grow_with_rows(operator_client, page):
    url = reverse(page)
    grow(2, start=0)
    few = queries_for(operator_client, url)
    grow(20, start=2)
    many = queries_for(operator_client, url)
    assert many == few, f"{page}: {few} queries with 2 rows of each, {many} with 22"


def test_endpoint_list_reads_observed_state_once_per_page(operator_client, monkeypatch):
    grow(12, start=0)
    calls = []
    real_read_states = infra_state.read_states
    monkeypatch.setattr(infra_state, "read_states", lambda ids: calls.append(list(ids)) or real_read_states(ids))
    monkeypatch.setattr(infra_state, "read_state", lambda *args: pytest.fail("one cache read per row"))
    operator_client.get(reverse("admin:endpoints_modelendpoint_changelist"))
    assert len(calls) == 1 and len(calls[0]) == 12
