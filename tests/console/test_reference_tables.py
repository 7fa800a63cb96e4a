"""Reference tables are editable in the console, with the platform's validation rules."""
import pytest
from django.urls import reverse

from endpoints.models import ModelRepository, RecommendedHardware

pytestmark = pytest.mark.django_db

GOOD_HARDWARE = {"model_name": "my-model", "gpu_memory_le": "", "cpus": "10", "gpus": "1", "memory": "24Gi",
                 "storage": "80Gi", "gpu_type": "nvidia-ampere-a10", "nodes_per_worker": "1"}


def add_hardware(client, **changes):
    return client.post(reverse("admin:endpoints_recommendedhardware_add"), {**GOOD_HARDWARE, **changes})


def errors_of(response) -> dict:
    form = response.context["adminform"].form
    return {field: " ".join(messages) for field, messages in form.errors.items()}


def test_valid_hardware_row_is_saved(operator_client):
    assert add_hardware(operator_client).status_code == 302
    assert RecommendedHardware.objects.filter(model_name="my-model", gpus=1).exists()


@pytest.mark.parametrize("changes, field, text", [
    ({"memory": "24Gb"}, "memory", "not a Kubernetes quantity"),
    ({"cpus": "-1"}, "cpus", "not a Kubernetes quantity"),
    ({"cpus": "500"}, "cpus", "above what a nvidia-ampere-a10 node offers"),
    ({"gpu_type": "nvidia-geforce-4090"}, "gpu_type", "not one of the available choices"),
    ({"gpus": "0"}, "gpus", "at least one GPU"),
    ({"nodes_per_worker": "0"}, "nodes_per_worker", "at least 1"),
    ({"model_name": "", "gpu_memory_le": "0"}, "gpu_memory_le", "greater than 0"),
    ({"model_name": "", "gpu_memory_le": ""}, "__all__", "model name or the GPU memory"),
])
def test_invalid_hardware_is_refused_on_its_field(operator_client, changes, field, text):
    response = add_hardware(operator_client, **changes)
    assert response.status_code == 200
    assert text in errors_of(response).get(field, ""), errors_of(response)
    assert not RecommendedHardware.objects.filter(model_name=changes.get("model_name", "my-model")).exclude(
        model_name="").exists()


def test_unmapped_gpu_type_is_refused(operator_client, settings):
    settings.LLME_GPU_NODE_LABELS = {"nvidia-tesla-t4": "nvidia-tesla-t4"}
    response = add_hardware(operator_client)
    assert "no node label in LLME_GPU_NODE_LABELS" in errors_of(response)["gpu_type"]


def test_model_repository_needs_an_org_and_model_and_positive_tokens(operator_client):
    url = reverse("admin:endpoints_modelrepository_add")
    bad = operator_client.post(url, {"model_name": "my model", "hf_repo": "just-a-name", "max_total_tokens": "0"})
    assert set(errors_of(bad)) == {"model_name", "hf_repo", "max_total_tokens"}
    good = operator_client.post(url, {"model_name": "my-model", "hf_repo": "acme/my-model", "max_total_tokens": "4096"})
    assert good.status_code == 302
    assert ModelRepository.objects.get(model_name="my-model").hf_repo == "acme/my-model"


def test_viewer_cannot_edit_reference_tables(viewer_client):
    assert add_hardware(viewer_client).status_code == 403
