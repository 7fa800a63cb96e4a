"""How the control plane's costs grow with the number of endpoints, measured in one run (no timed
tests; query counts are asserted in tests/endpoints/test_scale_queries.py).

Runs in this process against a PostgreSQL database of its own (created and dropped), a private
redis-server, and the project's fake Kubernetes API server (tests/fakes/k8s_api.py) over HTTP:
  - `GET /v1/llm/model-endpoints` of one owner with 10 / 100 / 1,000 / 10,000 endpoints whose
    observed state is in Redis: p50, SQL queries, body size (Django's test client, in process);
  - the cacher's endpoints pass (`reconcile_once`) with 10 / 100 / 1,000 built endpoints (each
    with its objects and one running pod on the fake cluster): the first pass (every status
    moves to READY: time and SQL queries) and the steady pass (nothing changes: p50, list calls);
  - create answered → all objects applied: the create request, then the builder's
    `endpoint_sync`, p50, on an empty platform and with 1,000 endpoints on the cluster.

"before" is the figure of issue 12, measured on the same machine before this work.

Run: `make bench-scale` (or `.venv/bin/python bench/scale.py [--max-list 10000]`).
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BEFORE = {  # issue 12's figures (2 cores, the project's fake cluster)
    ("list", 10): "17 ms", ("list", 100): "38 ms", ("list", 1000): "190 ms", ("list", 10000): "2,113 ms",
    ("steady", 10): "0.54 s", ("steady", 100): "0.99 s", ("steady", 1000): "6.9 s",
    ("first_queries", 10): "59", ("first_queries", 100): "459", ("first_queries", 1000): "4,509",
    ("create", 0): "449 ms", ("create", 1000): "887 ms",
}
TARGETS = {"list_10000_ms": 300, "steady_1000_s": 1.5, "create_empty_ms": 300, "create_1000_ms": 400}
NS = "llm-engine"
OWNER = "bench-user"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis():
    workdir = tempfile.mkdtemp(prefix="llme-bench-redis-")
    port = _free_port()
    proc = subprocess.Popen([shutil.which("redis-server"), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                             "--appendonly", "no", "--dir", workdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, workdir, f"redis://127.0.0.1:{port}/0"


def setup_environment(tmp: Path):
    import psycopg

    database = f"llme_bench_scale_{uuid.uuid4().hex[:8]}"
    admin_url = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    redis_proc, redis_dir, redis_url = start_redis()
    os.environ.update(DATABASE_URL=f"postgres://postgres:postgres@127.0.0.1:5432/{database}", REDIS_URL=redis_url,
                      DJANGO_SETTINGS_MODULE="llmengine_site.settings", LLM_ENGINE_DISABLE_VERSION_CHECK="1",
                      LLME_VAR_DIR=str(tmp / "var"))

    def teardown():
        from django.db import connections
        connections.close_all()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        redis_proc.terminate()
        redis_proc.wait(5)
        shutil.rmtree(redis_dir, ignore_errors=True)

    return teardown


def start_fake_cluster(tmp: Path):
    from tests.fakes.k8s_api import FakeKubernetesApi, FakeKubernetesServer
    from tests.fakes.k8s_fixtures import write_kubeconfig

    server = FakeKubernetesServer(FakeKubernetesApi()).start()
    server.api.reset(crds=("keda.sh/v1alpha1",))
    server.api.token = "fake-token"
    write_kubeconfig(tmp / "kubeconfig", server.url, server.api.token)
    os.environ["KUBECONFIG"] = str(tmp / "kubeconfig")
    for variable in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        os.environ.pop(variable, None)
    server.api.requests.clear()
    return server


def p50(samples):
    return statistics.median(samples)


class Platform:
    """Endpoint rows (and, when asked, their objects on the fake cluster) of one owner."""

    def __init__(self, server):
        from tests.fixtures_api import GUIDE_LLAMA_7B, CallerClient

        self.server = server
        self.client = CallerClient().as_user(OWNER)
        self.template_body = dict(GUIDE_LLAMA_7B)
        self.template = self.create_via_api("bench-template")

    def create_via_api(self, name):
        from endpoints.models import ModelEndpoint

        response = self.client.post("/v1/llm/model-endpoints", {**self.template_body, "name": name}, format="json")
        assert response.status_code == 200, response.content
        return ModelEndpoint.objects.select_related("bundle").get(name=name)

    def clone(self, count: int, prefix: str) -> list:
        """`count` more endpoints like the template (each with its own bundle), in bulk."""
        from django.forms.models import model_to_dict

        from endpoints.models import ModelBundle, ModelEndpoint
        from llmengine_site import ids

        bundle_fields = model_to_dict(self.template.bundle, exclude=["id"])
        endpoint_fields = model_to_dict(self.template, exclude=["id", "bundle", "name"])
        bundles, endpoints = [], []
        for i in range(count):
            name = f"{prefix}-{i}"
            bundle = ModelBundle(id=ids.bundle_id(), **{**bundle_fields, "name": name})
            bundles.append(bundle)
            endpoints.append(ModelEndpoint(id=ids.endpoint_id(), bundle=bundle, name=name,
                                           **{**endpoint_fields, "creation_task_id": uuid.uuid4().hex}))
        ModelBundle.objects.bulk_create(bundles, batch_size=2000)
        ModelEndpoint.objects.bulk_create(endpoints, batch_size=2000)
        return endpoints

    def put_on_cluster(self, endpoints):
        """Each endpoint's objects on the fake cluster with one running pod and an available
        Deployment, and its row recording the build (status still UPDATE_IN_PROGRESS)."""
        from endpoints.builder import applied_record, endpoint_spec
        from endpoints.choices import EndpointStatus
        from endpoints.manifests import render_endpoint
        from endpoints.models import ModelEndpoint
        from llmengine_site.names import endpoint_group_name

        api = self.server.api
        rows = []
        for endpoint in ModelEndpoint.objects.select_related("bundle").filter(pk__in=[e.id for e in endpoints]):
            objects = render_endpoint(endpoint_spec(endpoint), keda_available=True, lws_available=False)
            with api.lock:
                for obj in objects:
                    api._create(api.resource_for_kind(obj["apiVersion"], obj["kind"]), NS, obj)
            group = endpoint_group_name(endpoint.id)
            api.mark_deployment_available(NS, group, replicas=1)
            api.add_pod_for_deployment(NS, group, phase="Running")
            endpoint.synced_version = endpoint.spec_version
            endpoint.applied_objects = applied_record(objects)
            endpoint.status = EndpointStatus.UPDATE_IN_PROGRESS
            endpoint.destination = group
            rows.append(endpoint)
        ModelEndpoint.objects.bulk_update(rows, ["synced_version", "applied_objects", "status", "destination"], batch_size=2000)

    def clear(self):
        from endpoints.models import ModelBundle, ModelEndpoint

        ModelEndpoint.objects.exclude(pk=self.template.id).delete()
        ModelBundle.objects.exclude(pk=self.template.bundle_id).delete()
        self.server.api.reset(crds=("keda.sh/v1alpha1",))
        from llmengine_site.infra.kube import reset_kube_client
        reset_kube_client()


def bench_list(platform, sizes) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from endpoints import infra_state
    from endpoints.models import ModelEndpoint

    results, have = {}, 1  # the template counts
    for size in sizes:
        platform.clone(size - have, f"list{size}")
        have = size
        ids = list(ModelEndpoint.objects.values_list("id", flat=True))
        infra_state.write_states({i: {"replicas": 1, "available_workers": 1, "unavailable_workers": 0} for i in ids})
        repeats = 7 if size >= 10000 else 15
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            with CaptureQueriesContext(connection) as queries:
                response = platform.client.get("/v1/llm/model-endpoints")
            samples.append(time.perf_counter() - started)
            assert response.status_code == 200
        body = response.content
        assert body.count(b'"available_workers":1') + body.count(b'"available_workers": 1') == size
        results[size] = {"p50_ms": p50(samples) * 1000, "queries": len(queries), "mb": len(body) / 1e6}
        print(f"  list {size:>6}: p50 {results[size]['p50_ms']:.0f} ms, {len(queries)} queries, {len(body) / 1e6:.1f} MB", flush=True)
    return results


def bench_cacher(platform, sizes) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from endpoints.models import ModelEndpoint
    from endpoints.reconciler import reconcile_once
    from llmengine_site.infra.kube import get_kube

    results = {}
    for size in sizes:
        platform.clear()
        ModelEndpoint.objects.filter(pk=platform.template.id).update(status="READY", synced_version=0)
        endpoints = platform.clone(size, f"cacher{size}")
        platform.put_on_cluster(endpoints)
        kube = get_kube()
        kube.has_api("apps/v1", "Deployment")  # warm discovery like a running cacher
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            first = reconcile_once(kube)
        first_s = time.perf_counter() - started
        assert len(first.status_changes) == size, first
        samples, lists = [], 0
        for _ in range(5):
            platform.server.api.requests.clear()
            started = time.perf_counter()
            steady = reconcile_once(kube)
            samples.append(time.perf_counter() - started)
            lists = sum(1 for r in platform.server.api.requests if r.method == "GET" and r.path.split("/")[-1] in LIST_PLURALS)
            assert not steady.status_changes and not steady.repaired and not steady.pruned, steady
        results[size] = {"first_s": first_s, "first_queries": len(queries), "steady_s": p50(samples), "lists": lists}
        print(f"  cacher {size:>5}: first pass {first_s:.2f} s ({len(queries)} queries), steady p50 "
              f"{p50(samples):.2f} s ({lists} list calls)", flush=True)
    return results


LIST_PLURALS = {"deployments", "pods", "services", "configmaps", "secrets", "poddisruptionbudgets", "scaledobjects",
                "horizontalpodautoscalers", "leaderworkersets", "verticalpodautoscalers", "daemonsets"}


def bench_create(platform, background: int, repeats: int) -> float:
    from endpoints.builder import endpoint_sync
    from endpoints.models import ModelEndpoint

    platform.clear()
    if background:
        platform.put_on_cluster(platform.clone(background, f"bg{background}"))
    samples = []
    for i in range(repeats + 2):
        name = f"create-{background}-{i}"
        started = time.perf_counter()
        response = platform.client.post("/v1/llm/model-endpoints", {**platform.template_body, "name": name}, format="json")
        assert response.status_code == 200, response.content
        endpoint_sync(ModelEndpoint.objects.get(name=name).id)
        elapsed = time.perf_counter() - started
        assert ModelEndpoint.objects.get(name=name).synced_version == 1
        if i >= 2:  # the first two warm connections and caches
            samples.append(elapsed)
    value = p50(samples) * 1000
    print(f"  create → applied with {background:>4} endpoints on the cluster: p50 {value:.0f} ms", flush=True)
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-list", type=int, default=10000)
    parser.add_argument("--max-cacher", type=int, default=1000)
    parser.add_argument("--creates", type=int, default=15)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="llme-bench-scale-"))
    teardown = setup_environment(tmp)
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.test.utils import setup_test_environment

        setup_test_environment()  # the test client may use testserver as its host
        call_command("migrate", "--noinput", verbosity=0)
        server = start_fake_cluster(tmp)
        platform = Platform(server)
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start", flush=True)
        list_results = bench_list(platform, [s for s in (10, 100, 1000, 10000) if s <= args.max_list])
        cacher_results = bench_cacher(platform, [s for s in (10, 100, 1000) if s <= args.max_cacher])
        create_empty = bench_create(platform, 0, args.creates)
        create_busy = bench_create(platform, min(1000, args.max_cacher), args.creates)
        print_table(list_results, cacher_results, create_empty, create_busy, min(1000, args.max_cacher))
        print(f"load average at the end: {os.getloadavg()[0]:.2f}")
        server.stop()
    finally:
        teardown()
        shutil.rmtree(tmp, ignore_errors=True)


def print_table(list_results, cacher_results, create_empty, create_busy, busy):
    print("\n| measure | size | before (issue 12) | now | target |")
    print("|---|---|---|---|---|")
    for size, r in list_results.items():
        target = f"≤ {TARGETS['list_10000_ms']} ms, 1 query" if size == 10000 else ""
        print(f"| `GET /v1/llm/model-endpoints`, one owner, p50 | {size:,} | {BEFORE.get(('list', size), '–')} | "
              f"{r['p50_ms']:.0f} ms ({r['queries']} queries, {r['mb']:.1f} MB) | {target} |")
    for size, r in cacher_results.items():
        target = f"≤ {TARGETS['steady_1000_s']} s" if size == 1000 else ""
        print(f"| steady cacher pass, p50 | {size:,} | {BEFORE.get(('steady', size), '–')} | "
              f"{r['steady_s']:.2f} s ({r['lists']} list calls) | {target} |")
    for size, r in cacher_results.items():
        print(f"| first cacher pass (queries) | {size:,} | {BEFORE.get(('first_queries', size), '–')} | "
              f"{r['first_queries']} ({r['first_s']:.2f} s) | constant |")
    print(f"| create answered → all objects applied, p50 | empty platform | {BEFORE[('create', 0)]} | "
          f"{create_empty:.0f} ms | ≤ {TARGETS['create_empty_ms']} ms |")
    print(f"| create answered → all objects applied, p50 | {busy:,} endpoints | {BEFORE[('create', 1000)]} | "
          f"{create_busy:.0f} ms | ≤ {TARGETS['create_1000_ms']} ms |")


if __name__ == "__main__":
    main()
