"""The official `scale-llm-engine==0.0.0b45` client against a live server
(docs/wire-contract.md#the-official-client):
files, fine-tunes, batch completions and model download, end to end with the fake Kubernetes
API (the Job controller played by the test) and moto's S3."""
import io

import boto3
import pytest
from llmengine import Completion, File, FineTune, Model
from llmengine import (
    CreateBatchCompletionsModelConfig,
    CreateBatchCompletionsRequestContent,
)
from llmengine.errors import NotFoundError

from jobs.models import BatchJob
from jobs.reconciler import reconcile_jobs
from jobs.converge import job_sync
from llmengine_site.infra.kube import get_kube
from tests.jobs.conftest import BUCKET, add_job_pod, assert_no_control_plane_secret, assert_valid, finish_job, k8s_jobs

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

DATASET = b"prompt,response\nhello,world\n"


def upload(tmp_path, name: str, content: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content)
    with open(path, "rb") as handle:
        return File.upload(handle).id


def test_file_upload_get_list_download_delete(llmengine_client, tmp_path):
    file_id = upload(tmp_path, "train.csv", DATASET)
    assert file_id.startswith("file-")
    got = File.get(file_id)
    assert (got.id, got.filename, got.size) == (file_id, "train.csv", len(DATASET))
    assert [f.id for f in File.list().files] == [file_id]
    assert File.download(file_id).content == DATASET.decode()
    assert File.delete(file_id).deleted is True
    with pytest.raises(NotFoundError):
        File.get(file_id)
    assert File.list().files == []


def test_a_windows_1252_csv_from_a_spreadsheet_reads_back_through_file_download(llmengine_client, tmp_path):
    text = "prompt,response\r\nCafé “menu” – what's in it?,Crème brûlée for €5\r\nnaïve façade,Größe\r\n"
    file_id = upload(tmp_path, "spreadsheet.csv", text.encode("cp1252"))
    assert File.download(file_id).content == text


def test_two_uploads_with_the_same_filename_get_two_ids_and_keep_both_contents(llmengine_client, tmp_path):
    first = upload(tmp_path, "data.csv", b"prompt,response\na,b\n")
    (tmp_path / "again").mkdir()
    second = upload(tmp_path / "again", "data.csv", b"prompt,response\nc,d\n")
    assert first != second
    assert File.download(first).content == "prompt,response\na,b\n"
    assert File.download(second).content == "prompt,response\nc,d\n"
    assert {f.filename for f in File.list().files} == {"data.csv"}


def test_fine_tune_create_with_no_hyperparameters_runs_as_a_safe_job(llmengine_client, tmp_path, k8s_api, settings):
    training = upload(tmp_path, "train.csv", DATASET)
    created = FineTune.create(model="llama-2-7b", training_file=training, suffix="my-run")
    job = BatchJob.objects.get(pk=created.id)
    assert job.fine_tuned_model.startswith("llama-2-7b.my-run.")
    assert job_sync(job.id) == "launched"
    kube_job = k8s_jobs(k8s_api)[f"llm-engine-job-{job.id}"]
    assert_valid(kube_job)
    assert_no_control_plane_secret(kube_job, settings)
    config = k8s_api.get_object("Secret", "llm-engine", f"llm-engine-job-{job.id}-config")
    assert_valid(config)
    assert training in config["stringData"]["config.json"]
    got = FineTune.get(created.id)
    assert (got.status, got.fine_tuned_model) == ("PENDING", job.fine_tuned_model)
    assert [j.id for j in FineTune.list().jobs] == [created.id]


def test_fine_tune_events_are_readable_while_it_runs(llmengine_client, tmp_path, k8s_api):
    created = FineTune.create(model="llama-2-7b", training_file=upload(tmp_path, "t.csv", DATASET))
    job_sync(created.id)
    add_job_pod(k8s_api, created.id, '{"timestamp": 1700000000.5, "message": "epoch 1 loss 0.9", "level": "info"}\nplain line\n')
    k8s_api.set_status("batch/v1", "Job", "llm-engine", f"llm-engine-job-{created.id}", {"active": 1, "ready": 1})
    reconcile_jobs(get_kube())
    assert FineTune.get(created.id).status == "RUNNING"
    messages = [event.message for event in FineTune.get_events(created.id).events]
    assert "epoch 1 loss 0.9" in messages and "plain line" in messages
    assert any(message.startswith("status RUNNING") for message in messages)


def test_fine_tune_cancel_removes_the_job_from_the_list_and_keeps_its_history(llmengine_client, tmp_path, k8s_api):
    """As upstream's clients and integration tests expect (issue 13 changed this: the job used
    to stay listed as CANCELLED)."""
    created = FineTune.create(model="mistral-7b", training_file=upload(tmp_path, "t.csv", DATASET), hyperparameters=None)
    kept = FineTune.create(model="mistral-7b", training_file=upload(tmp_path, "k.csv", DATASET), hyperparameters=None)
    job_sync(created.id)
    assert FineTune.cancel(created.id).success is True
    job_sync(created.id)  # what the actor does after commit
    assert set(k8s_jobs(k8s_api)) == set()
    assert FineTune.get(created.id).status == "CANCELLED"  # the row and its history stay
    assert [j.id for j in FineTune.list().jobs] == [kept.id]
    assert BatchJob.objects.filter(pk=created.id, status="CANCELLED").exists()
    assert FineTune.cancel(created.id).success is True  # again: still cancelled
    assert FineTune.cancel("ft-unknown").success is False


def test_cancelling_a_finished_fine_tune_succeeds_and_keeps_weights_and_endpoint(llmengine_client, tmp_path, k8s_api,
                                                                               bucket):
    from endpoints.models import ModelEndpoint

    created = FineTune.create(model="llama-2-7b", training_file=upload(tmp_path, "t.csv", DATASET), suffix="done")
    job_sync(created.id)
    finish_job(k8s_api, created.id)
    reconcile_jobs(get_kube())
    job = BatchJob.objects.get(pk=created.id)
    assert job.status == "SUCCESS" and job.served_endpoint_id.startswith("end_")
    s3 = boto3.client("s3", region_name="us-west-2")
    prefix = job.output_location.removeprefix(f"s3://{BUCKET}/")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/model.safetensors", Body=b"weights")
    assert FineTune.cancel(created.id).success is True
    job_sync(created.id)
    assert k8s_jobs(k8s_api) == {}
    assert FineTune.list().jobs == []
    assert FineTune.get(created.id).status == "SUCCESS"
    assert ModelEndpoint.objects.filter(pk=job.served_endpoint_id).exists()
    assert set(Model.download(job.fine_tuned_model).urls) == {"model.safetensors"}
    assert "cancelled after it finished" in BatchJob.objects.get(pk=created.id).events.first().reason  # newest first


def test_succeeded_fine_tune_is_served_and_its_weights_download(llmengine_client, tmp_path, k8s_api, bucket):
    created = FineTune.create(model="llama-2-7b", training_file=upload(tmp_path, "t.csv", DATASET), suffix="prod")
    job_sync(created.id)
    finish_job(k8s_api, created.id)
    reconcile_jobs(get_kube())
    job = BatchJob.objects.get(pk=created.id)
    assert job.status == "SUCCESS" and job.served_endpoint_id.startswith("end_")
    endpoint = Model.get(job.fine_tuned_model)
    assert endpoint.name == job.fine_tuned_model
    s3 = boto3.client("s3", region_name="us-west-2")
    prefix = job.output_location.removeprefix(f"s3://{BUCKET}/")
    for name in ("model.safetensors", "config.json"):
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}/{name}", Body=b"weights")
    urls = Model.download(job.fine_tuned_model).urls
    assert set(urls) == {"model.safetensors", "config.json"}
    with pytest.raises(NotFoundError):
        Model.download("no-such-model")


def test_batch_completions_v1_and_v2_create_get_cancel(llmengine_client, k8s_api, settings):
    # Paths are in the caller's own prefix and the shared base-weights prefix (storage scoping).
    settings.LLME_S3_BUCKET = BUCKET
    settings.LLME_SHARED_READ_PREFIXES = ["s3://w/"]
    out = f"s3://{BUCKET}/llm-engine/teams/test-user-id/out"
    content = CreateBatchCompletionsRequestContent(prompts=["hi"], max_new_tokens=8, temperature=0.0)
    v1 = Completion.batch_create(
        output_data_path=f"{out}/v1.json", content=content,
        model_config=CreateBatchCompletionsModelConfig(model="llama-2-7b", labels={"team": "ml", "product": "eval"}),
    )
    v2 = Completion.batch_create(
        output_data_path=f"{out}/v2.json", content=content, use_v2=True,
        model_config=CreateBatchCompletionsModelConfig(model="llama-2-7b", checkpoint_path="s3://w/llama"),
        labels={"team": "ml"},
    )
    for job_id in (v1.job_id, v2.job_id):
        job_sync(job_id)
    for kube_job in k8s_jobs(k8s_api).values():
        assert_valid(kube_job)
        assert_no_control_plane_secret(kube_job, settings)
        pod = kube_job["spec"]["template"]["spec"]
        # The stock vLLM image runs as the native sidecar; the main container is our runner
        # (issue 13/14: it used to be the vLLM image with a command that did not exist).
        assert pod["initContainers"][0]["image"].startswith("registry.example.com/llm-engine/vllm:")
        assert pod["initContainers"][0]["restartPolicy"] == "Always"
        assert pod["containers"][0]["command"] == ["python", "-m", "jobs.batch_runner"]
    got = Completion.get_batch_completion(v2.job_id)
    assert got["job"]["status"] == "queued" and got["job"]["output_data_path"] == f"{out}/v2.json"
    assert Completion.get_batch_completion(v1.job_id)["job"]["metadata"] == {"team": "ml", "product": "eval"}
    assert Completion.cancel_batch_completion(v2.job_id) == {"success": True}
    assert Completion.get_batch_completion(v2.job_id)["job"]["status"] == "cancelled"
