"""Bad input to files and fine-tunes: a clear 4xx naming the problem, and nothing created."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.models import BatchJob, File


@pytest.fixture
def owner(api):
    return api.as_user("alice")


def upload(client, name: str, content: bytes) -> str:
    response = client.post("/v1/files", {"file": SimpleUploadedFile(name, content)}, format="multipart")
    assert response.status_code == 200, response.json()
    return response.json()["id"]


def create(client, **body):
    return client.post("/v1/llm/fine-tunes", {"model": "llama-2-7b", "hyperparameters": None, **body}, format="json")


def test_files_of_another_owner_are_not_found(owner, api):
    file_id = upload(owner, "a.csv", b"prompt,response\n")
    other = api.as_user("mallory")
    for response in (other.get(f"/v1/files/{file_id}"), other.get(f"/v1/files/{file_id}/content"),
                     other.delete(f"/v1/files/{file_id}")):
        assert response.status_code == 404
        assert response.json() == {"detail": "The specified file could not be found."}
    assert other.get("/v1/files").json() == {"files": []}
    assert File.objects.filter(pk=file_id).exists()


def test_binary_file_is_stored_intact_and_content_says_it_is_binary(owner):
    data = bytes(range(256))
    file_id = upload(owner, "blob.bin", data)
    assert owner.get(f"/v1/files/{file_id}").json()["size"] == 256
    response = owner.get(f"/v1/files/{file_id}/content")
    assert response.status_code == 400 and "binary" in response.json()["detail"]
    assert f"download it from the console: /admin/jobs/file/?q={file_id}" in response.json()["detail"]


@pytest.mark.parametrize(("text", "encoding"), [
    ("prompt,response\nCafé “quoted” – naïve,ok €5\n", "cp1252"),
    ("prompt,response\nhéllo wörld,ça va\n", "latin-1"),
    ("prompt,response\nZażółć gęślą jaźń,ok\n", "cp1250"),
    ("prompt,response\nПривет, как дела у тебя сегодня?,Спасибо, всё хорошо.\n", "cp1251"),
    ("prompt,response\n日本語のテキスト,こんにちは\n", "shift_jis"),
    ("prompt,response\nhi,there\n", "utf-16"),
    ("\ufeffprompt,response\nhi,there\n", "utf-8"),
])
def test_text_in_any_common_encoding_is_returned_decoded(owner, text, encoding):
    file_id = upload(owner, "data.csv", text.encode(encoding))
    response = owner.get(f"/v1/files/{file_id}/content")
    assert response.status_code == 200, response.json()
    assert response.json()["content"] == text.lstrip("\ufeff")


def test_oversized_upload_is_refused_naming_the_limit(owner, settings):
    settings.LLME_MAX_UPLOAD_BYTES = 10
    response = owner.post("/v1/files", {"file": SimpleUploadedFile("big.csv", b"x" * 100)}, format="multipart")
    assert response.status_code == 413
    assert "10 bytes" in response.json()["detail"]
    assert not File.objects.exists()


def test_upload_without_a_file_part_is_a_validation_error(owner):
    assert owner.post("/v1/files", {"other": "x"}, format="multipart").status_code == 422


@pytest.mark.parametrize("body, status, phrase", [
    ({"model": "no-such-model"}, 400, "Fine-tuning not implemented for model type no-such-model"),
    ({"training_file": "file-doesnotexist"}, 404, "file-doesnotexist"),
    ({"suffix": "bad suffix!"}, 400, "suffix"),
    ({"suffix": "x" * 29}, 400, "suffix"),
    ({"training_file": "ftp://example.com/data.csv"}, 400, "neither a file id"),
    ({"wandb_config": {"project": "p"}}, 400, "api_key"),
])
def test_fine_tune_bad_input_creates_nothing(owner, body, status, phrase):
    training = upload(owner, "train.csv", b"prompt,response\nq,a\n")
    response = create(owner, training_file=body.pop("training_file", training), **body)
    assert response.status_code == status, response.json()
    assert phrase in str(response.json()["detail"])
    assert not BatchJob.objects.exists()


@pytest.mark.parametrize("content, phrase", [
    (b"question,answer\nq,a\n", "Required column headers"),
    (b'{"question": "q"}\n', "Required column headers"),
    (b"{not json\n", "not valid JSON"),
    (b"", "empty"),
    (b"\xff\xfe\x00bin", "not UTF-8"),
])
def test_unusable_datasets_are_refused(owner, content, phrase):
    response = create(owner, training_file=upload(owner, "d.csv", content))
    assert response.status_code == 400 and phrase in response.json()["detail"]
    assert not BatchJob.objects.exists()


def test_jsonl_with_input_output_is_accepted(owner, k8s_api):
    response = create(owner, training_file=upload(owner, "d.jsonl", b'{"input": "q", "output": "a"}\n'))
    assert response.status_code == 200, response.json()


def test_file_of_another_owner_cannot_be_used_for_training(owner, api):
    foreign = upload(api.as_user("bob"), "train.csv", b"prompt,response\n")
    response = create(owner, training_file=foreign)
    assert response.status_code == 404
    assert not BatchJob.objects.exists()


def test_required_hyperparameters_and_quota(owner, settings):
    from jobs.models import FineTuneTemplate

    FineTuneTemplate.objects.filter(base_model="llama-2-7b").update(required_hyperparameters=["lr"])
    training = upload(owner, "t.csv", b"prompt,response\n")
    response = create(owner, training_file=training)
    assert response.status_code == 400 and "lr" in response.json()["detail"]
    settings.LLME_FINE_TUNE_QUOTA = 1
    assert create(owner, training_file=training, hyperparameters={"lr": 0.1}).status_code == 200
    response = create(owner, training_file=training, hyperparameters={"lr": 0.1})
    assert response.status_code == 400 and "Quota" in response.json()["detail"]
    assert BatchJob.objects.count() == 1


def test_unknown_fine_tune_is_not_found(owner):
    assert owner.get("/v1/llm/fine-tunes/ft-nope").status_code == 404
    assert owner.get("/v1/llm/fine-tunes/ft-nope/events").status_code == 404
    assert owner.put("/v1/llm/fine-tunes/ft-nope/cancel", None, format="json").json() == {"success": False}


def test_legacy_batch_jobs_say_they_are_unsupported(owner):
    response = owner.post("/v1/batch-jobs", {"model_bundle_id": "bun_x"}, format="json")
    assert response.status_code == 400 and "not supported" in response.json()["detail"]
    assert owner.get("/v1/batch-jobs/bat_x").status_code == 404
