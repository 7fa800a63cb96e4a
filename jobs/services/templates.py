"""Fine-tune templates: the one validation used by the admin form and the file loader."""
from django.core.exceptions import ValidationError
from django.db import transaction

from endpoints.choices import InferenceFramework
from jobs.models import FineTuneTemplate
from jobs.services.runs import check_job_resources
from llmengine_site.errors import InvalidRequest

TEMPLATE_FIELDS = (
    "base_model", "image_repository", "image_tag", "command", "env", "default_hyperparameters",
    "required_hyperparameters", "max_runtime_seconds", "serve_framework", "serve_framework_tag",
    "serve_min_workers", "serve_max_workers", "serve_per_worker", "enabled", "cpus", "memory", "storage", "gpus",
    "gpu_type",
)


def template_errors(values: dict) -> dict[str, str]:
    """Field -> message for everything wrong with a template's values (empty when valid)."""
    errors = {}
    command = values.get("command")
    if not isinstance(command, list) or not command or not all(isinstance(part, str) for part in command):
        errors["command"] = "must be a non-empty JSON list of strings"
    env = values.get("env") or {}
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        errors["env"] = "must be a JSON object of strings"
    if not isinstance(values.get("default_hyperparameters") or {}, dict):
        errors["default_hyperparameters"] = "must be a JSON object"
    required = values.get("required_hyperparameters") or []
    if not isinstance(required, list) or not all(isinstance(name, str) for name in required):
        errors["required_hyperparameters"] = "must be a JSON list of names"
    if values.get("serve_framework", "vllm") not in InferenceFramework.values:
        errors["serve_framework"] = f"must be one of {', '.join(InferenceFramework.values)}"
    if (values.get("serve_min_workers") or 0) > (values.get("serve_max_workers") or 1):
        errors["serve_min_workers"] = "must not be greater than serve_max_workers"
    try:
        check_job_resources(cpus=values.get("cpus"), memory=values.get("memory"), storage=values.get("storage"),
                            gpus=values.get("gpus") or 0, gpu_type=values.get("gpu_type") or None)
    except InvalidRequest as exc:
        errors[exc.field or "cpus"] = str(exc.detail)
    return errors


def templates_load(rows: list[dict]) -> tuple[int, int]:
    """Create or update templates by `base_model`, all or nothing. Returns (created, updated).
    Raises ValidationError naming the row and field of the first problem."""
    created = updated = 0
    with transaction.atomic():
        for index, row in enumerate(rows):
            if not isinstance(row, dict) or not row.get("base_model"):
                raise ValidationError(f"template #{index + 1}: base_model is required")
            unknown = sorted(set(row) - set(TEMPLATE_FIELDS))
            if unknown:
                raise ValidationError(f"template {row['base_model']}: unknown field(s) {', '.join(unknown)}")
            template = FineTuneTemplate.objects.filter(base_model=row["base_model"]).first() or FineTuneTemplate()
            for field, value in row.items():
                setattr(template, field, value)
            values = {field: getattr(template, field) for field in TEMPLATE_FIELDS}
            errors = template_errors(values)
            if errors:
                field, message = next(iter(errors.items()))
                raise ValidationError(f"template {row['base_model']}: {field}: {message}")
            is_new = template.pk is None
            template.save()
            created, updated = created + is_new, updated + (not is_new)
    return created, updated
