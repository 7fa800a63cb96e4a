"""The nodes of a cluster prepared as docs/self-hosting.md says: a CPU node group for the control
plane (no label, no taint) and a g5 GPU node group, labelled and tainted as the docs say."""
NODES = [
    {"name": "ip-10-0-1-11.cpu", "labels": {"node.kubernetes.io/instance-type": "m5.xlarge"}, "taints": []},
    {"name": "ip-10-0-1-12.cpu", "labels": {"node.kubernetes.io/instance-type": "m5.xlarge"}, "taints": []},
    {"name": "ip-10-0-2-21.g5", "labels": {"node.kubernetes.io/instance-type": "g5.12xlarge",
                                           "node-lifecycle": "normal",
                                           "k8s.amazonaws.com/accelerator": "nvidia-tesla-a10"},
     "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]},
]
CPU_NODES = {node["name"] for node in NODES if not node["taints"]}
GPU_NODE = "ip-10-0-2-21.g5"
