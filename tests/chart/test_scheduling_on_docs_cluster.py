"""Where the chart's pods can land on a cluster prepared as the docs say, decided by the same
scheduling rules the end-to-end install test's kubelet applies (tests/fakes/k8s_scheduling.py)."""
from tests.chart.docs_cluster import CPU_NODES, GPU_NODE, NODES
from tests.chart.helm import find, render, sets
from tests.fakes.k8s_scheduling import schedule

CONTROL_PLANE = [("Deployment", "llm-engine"), ("Deployment", "llm-engine-cacher"),
                 ("Deployment", "llm-engine-endpoint-builder"), ("Job", "llm-engine-migrations-1")]


def pod_spec(objects, kind, name):
    return find(objects, kind, name)["spec"]["template"]["spec"]


def test_the_samples_control_plane_fits_only_the_cpu_nodes():
    objects = render()
    for kind, name in CONTROL_PLANE:
        spec = pod_spec(objects, kind, name)
        node, why = schedule(spec, NODES)
        assert node is not None and node["name"] in CPU_NODES, (name, why)
        _, why_not_gpu = schedule(spec, [n for n in NODES if n["name"] == GPU_NODE])
        assert "untolerated taint {nvidia.com/gpu: true}" in why_not_gpu


def test_pinning_the_control_plane_to_the_gpu_label_leaves_it_pending():
    # The public guide's old sample selected node-lifecycle: normal, which the docs put on the
    # tainted GPU nodes only: the migration hook then never starts and helm install times out.
    objects = render(*sets("nodeSelector.node-lifecycle=normal"))
    node, why = schedule(pod_spec(objects, "Job", "llm-engine-migrations-1"), NODES)
    assert node is None
    assert why == ("0/3 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, "
                   "1 node(s) had untolerated taint {nvidia.com/gpu: true}.")


def test_image_caches_land_only_on_nodes_of_their_gpu_type():
    objects = render()
    placed = {}
    for obj in objects:
        if obj["kind"] == "DaemonSet":
            node, _ = schedule(obj["spec"]["template"]["spec"], NODES)
            placed[obj["metadata"]["name"]] = node and node["name"]
    assert placed["llm-engine-image-cache-a10"] == GPU_NODE
    assert {name for name, node in placed.items() if node is None} == {
        "llm-engine-image-cache-t4", "llm-engine-image-cache-a100", "llm-engine-image-cache-h100"}
