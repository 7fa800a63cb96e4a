"""A delete that races its own build leaves nothing behind (docs/operations.md#one-writer-per-endpoint):
the teardown waits for the build's lock, and a build that finds its row gone after applying
takes back what it applied."""
import threading

import pytest
from django.db import connection

from endpoints.builder import endpoint_sync
from endpoints.models import ModelEndpoint

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

NS = "llm-engine"


@pytest.fixture
def owner(api):
    return api.as_user("test-user-id")


def labelled(k8s_api, endpoint_id):
    return k8s_api.objects(namespace=NS, label_selector=f"llm-engine.io/endpoint-id={endpoint_id}")


def hold_first_apply(k8s_api, while_held=None):
    """Make the build's first apply (a PATCH) wait until the test releases it."""
    applying, release = threading.Event(), threading.Event()

    def on_request(request):
        if request.method == "PATCH" and not applying.is_set():
            applying.set()
            if while_held is not None:
                while_held()
            release.wait(15)

    k8s_api.on_request = on_request
    return applying, release


def in_thread(func, *args):
    errors = []

    def run():
        try:
            func(*args)
        except Exception as exc:  # reported to the test
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def test_a_delete_during_the_build_leaves_no_object(owner, guide_llama_7b, k8s_api):
    assert owner.post("/v1/llm/model-endpoints", guide_llama_7b, format="json").status_code == 200
    endpoint_id = ModelEndpoint.objects.get(name="llama-7b").id
    applying, release = hold_first_apply(k8s_api)
    build, build_errors = in_thread(endpoint_sync, endpoint_id)
    assert applying.wait(10)
    assert owner.delete("/v1/llm/model-endpoints/llama-7b").status_code == 200
    teardown, teardown_errors = in_thread(endpoint_sync, endpoint_id)  # the delete's message
    teardown.join(1.0)  # it waits for the build's lock (without the lock it would finish now)
    release.set()
    build.join(15)
    teardown.join(15)
    assert not build_errors and not teardown_errors
    assert labelled(k8s_api, endpoint_id) == []
    assert not ModelEndpoint.objects.filter(pk=endpoint_id).exists()


def test_a_build_whose_row_vanished_while_applying_takes_back_what_it_applied(owner, guide_llama_7b, k8s_api):
    assert owner.post("/v1/llm/model-endpoints", guide_llama_7b, format="json").status_code == 200
    endpoint_id = ModelEndpoint.objects.get(name="llama-7b").id

    def remove_row():  # a writer that does not take the lock (e.g. a row removed by hand)
        ModelEndpoint.objects.filter(pk=endpoint_id).delete()
        connection.close()

    applying, release = hold_first_apply(k8s_api, while_held=remove_row)
    release.set()
    endpoint_sync(endpoint_id)
    assert applying.is_set()
    assert labelled(k8s_api, endpoint_id) == []


BURST = 6


@pytest.fixture
def worker():
    import dramatiq

    from endpoints.tasks import sync_endpoint  # noqa: F401  (declared on the broker once apps are ready)

    worker = dramatiq.Worker(dramatiq.get_broker(), worker_threads=2, worker_timeout=100)
    worker.start()
    yield worker
    worker.stop()


def test_a_burst_of_creates_each_deleted_while_building_leaves_nothing(owner, guide_llama_7b, k8s_api, worker):
    """As an operator saw it: builds and teardowns on a real worker with two threads, a cluster
    that takes 0.2 s per apply, and every endpoint deleted once its build has started applying."""
    import time

    k8s_api.on_request = lambda request: time.sleep(0.2) if request.method == "PATCH" else None
    for index in range(BURST):
        name = f"race-{index}"
        assert owner.post("/v1/llm/model-endpoints", {**guide_llama_7b, "name": name}, format="json").status_code == 200
        group = "llm-engine-endpoint-id-" + ModelEndpoint.objects.get(name=name).id.replace("_", "-")
        deadline = time.monotonic() + 20
        while not any(r.method == "PATCH" and group in r.path for r in list(k8s_api.requests)):
            assert time.monotonic() < deadline, "the build did not start"
            time.sleep(0.02)
        assert owner.delete(f"/v1/llm/model-endpoints/{name}").status_code == 200
    deadline = time.monotonic() + 40
    while ModelEndpoint.objects.exists():
        assert time.monotonic() < deadline, "teardowns did not finish"
        time.sleep(0.2)
    time.sleep(1.0)  # a build still running would apply now
    leftovers = [f"{o['kind']}/{o['metadata']['name']}" for o in k8s_api.objects(namespace=NS)
                 if "llm-engine.io/endpoint-id" in (o["metadata"].get("labels") or {})]
    assert leftovers == []
