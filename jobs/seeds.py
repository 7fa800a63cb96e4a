"""Starting fine-tune templates for the common base models of the model table
(docs/wire-contract.md#fine-tuning).

The image is the operator's own training image (none ships with LLM Engine): edit the rows in
the admin or load a file with `manage.py load_fine_tune_templates`. It must read the JSON
config at $LLME_JOB_CONFIG_PATH and write Hugging Face-format weights to its `output_location`.
"""
TRAINING_IMAGE_REPOSITORY = "llm-engine-fine-tune"
TRAINING_IMAGE_TAG = "latest"
TRAINING_COMMAND = ["python", "-m", "llm_engine_fine_tune", "--config", "/restricted_launch/fine_tune_config.json"]
DEFAULT_HYPERPARAMETERS = {"lr": 0.0002, "epochs": 3, "warmup_ratio": 0.03, "weight_decay": 0.0, "lora_rank": 16}

_SMALL = {"cpus": "8", "memory": "48Gi", "storage": "100Gi", "gpus": 1, "gpu_type": "nvidia-ampere-a10"}
_MEDIUM = {"cpus": "12", "memory": "96Gi", "storage": "200Gi", "gpus": 1, "gpu_type": "nvidia-ampere-a100"}
_LARGE = {"cpus": "48", "memory": "600Gi", "storage": "500Gi", "gpus": 8, "gpu_type": "nvidia-ampere-a100"}

FINE_TUNE_TEMPLATES = {
    "llama-2-7b": _SMALL, "llama-2-7b-chat": _SMALL, "llama-2-13b": _MEDIUM, "llama-2-13b-chat": _MEDIUM,
    "llama-2-70b": _LARGE, "llama-2-70b-chat": _LARGE, "mistral-7b": _SMALL, "mistral-7b-instruct": _SMALL,
    "llama-3-8b": _SMALL, "llama-3-8b-instruct": _SMALL, "llama-3-1-8b": _SMALL, "llama-3-1-8b-instruct": _SMALL,
    "mpt-7b": _SMALL, "mpt-7b-instruct": _SMALL,
}


def template_rows() -> list[dict]:
    return [
        {"base_model": base_model, "image_repository": TRAINING_IMAGE_REPOSITORY, "image_tag": TRAINING_IMAGE_TAG,
         "command": list(TRAINING_COMMAND), "default_hyperparameters": dict(DEFAULT_HYPERPARAMETERS), **resources}
        for base_model, resources in FINE_TUNE_TEMPLATES.items()
    ]
