"""A fine-tune's wandb api_key is write-only: no API response returns it (docs/security.md#what-isolates-teams)."""
import base64

from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.converge import job_sync
from tests.jobs.conftest import NS

API_KEY = "wandb-secret-0123456789"


def _create_fine_tune_with_wandb(owner):
    file_id = owner.post("/v1/files", {"file": SimpleUploadedFile("t.csv", b"prompt,response\nq,a\n")},
                         format="multipart").json()["id"]
    created = owner.post("/v1/llm/fine-tunes", {"model": "llama-2-7b", "training_file": file_id, "hyperparameters": {},
                                                "wandb_config": {"api_key": API_KEY, "project": "p"}}, format="json")
    assert created.status_code == 200, created.json()
    return created


def test_wandb_api_key_is_in_no_response(api, k8s_api):
    owner = api.as_user("alice")
    created = _create_fine_tune_with_wandb(owner)
    job_id = created.json()["id"]
    answers = [created, owner.get(f"/v1/llm/fine-tunes/{job_id}"), owner.get("/v1/llm/fine-tunes"),
               owner.get(f"/v1/llm/fine-tunes/{job_id}/events"), owner.get(f"/v1/docker-image-batch-jobs/{job_id}"),
               owner.get("/v1/docker-image-batch-jobs")]
    assert answers[1].status_code == 200
    for response in answers:
        assert API_KEY not in response.content.decode(), response.request["PATH_INFO"]


def test_wandb_api_key_reaches_the_cluster_only_in_a_secret(api, k8s_api):
    """Tenant credentials live in Secrets: ConfigMaps and the Job's own spec are readable far more
    widely (docs/security.md#what-isolates-teams)."""
    owner = api.as_user("alice")
    created = _create_fine_tune_with_wandb(owner)
    job_sync(created.json()["id"])
    secrets = k8s_api.objects("Secret", NS)
    held = [obj["metadata"]["name"] for obj in secrets
            if API_KEY in str(obj.get("stringData") or {})
            or any(API_KEY in base64.b64decode(value).decode(errors="replace") for value in (obj.get("data") or {}).values())]
    assert held, "the key is in no Secret: the job could not use it"
    for kind in ("ConfigMap", "Job", "Pod", "Event"):
        for obj in k8s_api.objects(kind, NS):
            assert API_KEY not in str(obj), (kind, obj["metadata"]["name"])
