"""Multi-node endpoints: one LeaderWorkerSet replica = `nodes_per_worker` pods
(docs/design.md#kubernetes-objects-per-endpoint).

The leader pod runs `main` (Ray head + vLLM server) and the forwarder; worker pods run the
bundle's `worker_command` (Ray workers). No HPA/KEDA/PDB: a group scales as a whole and the
replica count is fixed (`min_workers`).
"""
from endpoints.manifests import deployment, forwarder

LWS_API_VERSION = "leaderworkerset.x-k8s.io/v1"


def render_leader_worker_set(spec, metadata: dict, group: str) -> dict:
    bundle = spec.bundle
    if not bundle.worker_command:
        raise ValueError("multi-node endpoints need a bundle with a worker command (vLLM only)")
    leader = deployment.pod_spec(
        spec,
        [deployment.main_container(spec, lws=True), forwarder.forwarder_container(spec)],
        config_map=forwarder.config_map_name(spec),
    )
    worker_env = bundle.worker_env if bundle.worker_env is not None else bundle.env
    worker = deployment.pod_spec(
        spec,
        # Workers serve no HTTP: readiness is the Ray worker process being up.
        [deployment.main_container(spec, command=bundle.worker_command, env=worker_env, lws=True, probe=False)],
        config_map=None,
    )
    labels = metadata["labels"]
    return {
        "apiVersion": LWS_API_VERSION,
        "kind": "LeaderWorkerSet",
        "metadata": metadata,
        "spec": {
            "replicas": spec.min_workers,
            "startupPolicy": "LeaderCreated",
            "leaderWorkerTemplate": {
                "size": spec.nodes_per_worker,
                # A lost pod breaks the NCCL/Ray group: restart the whole group.
                "restartPolicy": "RecreateGroupOnPodRestart",
                "leaderTemplate": {
                    "metadata": {"labels": deployment.pod_labels(labels, group, "leader")},
                    "spec": leader,
                },
                "workerTemplate": {
                    "metadata": {"labels": deployment.pod_labels(labels, group, "worker")},
                    "spec": worker,
                },
            },
        },
    }
