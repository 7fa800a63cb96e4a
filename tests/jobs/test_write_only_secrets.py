"""A fine-tune's wandb api_key is write-only: no API response returns it (docs/security.md#what-isolates-teams)."""
from django.core.files.uploadedfile import SimpleUploadedFile

API_KEY = "wandb-secret-0123456789"


def test_wandb_api_key_is_in_no_response(api, k8s_api):
    owner = api.as_user("alice")
    file_id = owner.post("/v1/files", {"file": SimpleUploadedFile("t.csv", b"prompt,response\nq,a\n")},
                         format="multipart").json()["id"]
    created = owner.post("/v1/llm/fine-tunes", {"model": "llama-2-7b", "training_file": file_id, "hyperparameters": {},
                                                "wandb_config": {"api_key": API_KEY, "project": "p"}}, format="json")
    assert created.status_code == 200, created.json()
    job_id = created.json()["id"]
    answers = [created, owner.get(f"/v1/llm/fine-tunes/{job_id}"), owner.get("/v1/llm/fine-tunes"),
               owner.get(f"/v1/llm/fine-tunes/{job_id}/events"), owner.get(f"/v1/docker-image-batch-jobs/{job_id}"),
               owner.get("/v1/docker-image-batch-jobs")]
    assert answers[1].status_code == 200
    for response in answers:
        assert API_KEY not in response.content.decode(), response.request["PATH_INFO"]
