"""Services ask the cluster and the registry before they open a transaction (docs/design.md#desired-state-and-the-flow-of-a-change): no
row lock is held while a network call is waiting."""
import psycopg
import pytest
from django.db import connection

from endpoints.models import ModelEndpoint

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def row_is_locked(endpoint_id: str) -> bool:
    """Ask from a connection of our own whether another transaction holds the row's lock."""
    params = connection.settings_dict
    with psycopg.connect(dbname=params["NAME"], user=params["USER"], password=params["PASSWORD"],
                         host=params["HOST"], port=params["PORT"] or 5432, autocommit=True) as conn:
        try:
            conn.execute("SELECT id FROM endpoints_modelendpoint WHERE id = %s FOR UPDATE NOWAIT", (endpoint_id,))
        except psycopg.errors.LockNotAvailable:
            return True
    return False


def test_update_asks_the_cluster_for_keda_without_holding_the_row_lock(api, k8s_api, guide_llama_7b):
    owner = api.as_user("test-user-id")
    assert owner.post("/v1/llm/model-endpoints", guide_llama_7b, format="json").status_code == 200
    endpoint_id = ModelEndpoint.objects.get(name="llama-7b").id
    seen = []
    k8s_api.on_request = lambda request: seen.append((request.path, row_is_locked(endpoint_id)))
    response = owner.put("/v1/llm/model-endpoints/llama-7b", {"min_workers": 0}, format="json")
    assert response.status_code == 200, response.json()
    discovery = [locked for path, locked in seen if path.startswith("/apis/keda.sh")]
    assert discovery == [False]  # the cluster was asked, and the row was free meanwhile
    assert ModelEndpoint.objects.get(pk=endpoint_id).min_workers == 0
