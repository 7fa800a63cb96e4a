"""Starting rows of the reference tables (editable in the admin afterwards)."""

# Smallest row whose GPU memory covers the model's estimate wins (endpoints.hardware).
HARDWARE_BY_MEMORY = [
    # gpu_memory_le (GB), cpus, gpus, memory, storage, gpu_type
    (24, "10", 1, "24Gi", "80Gi", "nvidia-ampere-a10"),
    (48, "20", 2, "48Gi", "80Gi", "nvidia-ampere-a10"),
    (96, "40", 4, "96Gi", "96Gi", "nvidia-ampere-a10"),
    (180, "20", 2, "160Gi", "160Gi", "nvidia-hopper-h100"),
    (320, "40", 4, "320Gi", "320Gi", "nvidia-hopper-h100"),
    (640, "80", 8, "800Gi", "640Gi", "nvidia-hopper-h100"),
]

# Models whose needs the size estimate gets wrong.
HARDWARE_BY_MODEL = [
    # model_name, cpus, gpus, memory, storage, gpu_type, nodes_per_worker
    ("mixtral-8x7b-instruct", "20", 2, "160Gi", "160Gi", "nvidia-hopper-h100", 1),
    ("llama-3-1-405b-instruct", "80", 8, "800Gi", "640Gi", "nvidia-hopper-h100", 2),
]

_LLAMA_2 = {f"llama-2-{size}{suffix}": f"meta-llama/Llama-2-{size}{'-chat' if suffix else ''}-hf"
            for size in ("7b", "13b", "70b") for suffix in ("", "-chat")}

MODEL_REPOSITORIES = {
    "mpt-7b": "mosaicml/mpt-7b",
    "mpt-7b-instruct": "mosaicml/mpt-7b-instruct",
    "flan-t5-xxl": "google/flan-t5-xxl",
    "llama-7b": "decapoda-research/llama-7b-hf",
    **_LLAMA_2,
    "llama-3-8b": "meta-llama/Meta-Llama-3-8B",
    "llama-3-8b-instruct": "meta-llama/Meta-Llama-3-8B-Instruct",
    "llama-3-70b": "meta-llama/Meta-Llama-3-70B",
    "llama-3-70b-instruct": "meta-llama/Meta-Llama-3-70B-Instruct",
    "llama-3-1-8b": "meta-llama/Meta-Llama-3.1-8B",
    "llama-3-1-8b-instruct": "meta-llama/Meta-Llama-3.1-8B-Instruct",
    "llama-3-1-70b": "meta-llama/Meta-Llama-3.1-70B",
    "llama-3-1-70b-instruct": "meta-llama/Meta-Llama-3.1-70B-Instruct",
    "llama-3-1-405b-instruct": "meta-llama/Meta-Llama-3.1-405B-Instruct",
    "falcon-7b": "tiiuae/falcon-7b",
    "falcon-7b-instruct": "tiiuae/falcon-7b-instruct",
    "falcon-40b": "tiiuae/falcon-40b",
    "falcon-40b-instruct": "tiiuae/falcon-40b-instruct",
    "codellama-7b": "codellama/CodeLlama-7b-hf",
    "codellama-7b-instruct": "codellama/CodeLlama-7b-Instruct-hf",
    "codellama-13b": "codellama/CodeLlama-13b-hf",
    "codellama-13b-instruct": "codellama/CodeLlama-13b-Instruct-hf",
    "codellama-34b": "codellama/CodeLlama-34b-hf",
    "codellama-34b-instruct": "codellama/CodeLlama-34b-Instruct-hf",
    "mistral-7b": "mistralai/Mistral-7B-v0.1",
    "mistral-7b-instruct": "mistralai/Mistral-7B-Instruct-v0.1",
    "mixtral-8x7b": "mistralai/Mixtral-8x7B-v0.1",
    "mixtral-8x7b-instruct": "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "zephyr-7b-alpha": "HuggingFaceH4/zephyr-7b-alpha",
    "zephyr-7b-beta": "HuggingFaceH4/zephyr-7b-beta",
    "gemma-2-2b": "google/gemma-2-2b",
    "gemma-2-2b-instruct": "google/gemma-2-2b-it",
    "phi-3-mini-4k-instruct": "microsoft/Phi-3-mini-4k-instruct",
    "qwen2-72b-instruct": "Qwen/Qwen2-72B-Instruct",
}
