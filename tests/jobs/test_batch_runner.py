"""The batch runner (`python -m jobs.batch_runner`) against fake vLLM servers and moto's S3:
outputs in the contract's shape and input order, per-item failures recorded instead of failing
the batch, retries, a runner killed half-way and restarted without redoing finished items,
data parallelism, and a model server that never comes up."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from jobs.batch_runner import checkpoint, locations
from jobs.batch_runner.runner import EXIT_OK, EXIT_SERVER_UNAVAILABLE, EXIT_TERMINATED, RunnerConfig, run
from tests.fakes.model_servers import ModelServer

BUCKET = "batch-test"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def s3(aws):
    client = boto3.client("s3", region_name="us-west-2")
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    locations._s3 = None  # the runner's client must see this test's AWS environment
    yield client
    locations._s3 = None


@pytest.fixture
def vllm():
    with ModelServer("vllm") as server:
        yield server


def read_json(s3, key: str):
    return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def v1_content(count: int) -> dict:
    # Prompt i has i + 1 words, so each output's num_prompt_tokens names its prompt.
    return {"prompts": [" ".join(["word"] * (index + 1)) for index in range(count)], "max_new_tokens": 4,
            "temperature": 0.0, "stop_sequences": None, "return_token_log_probs": False, "presence_penalty": None,
            "frequency_penalty": None, "top_k": None, "top_p": None, "skip_special_tokens": True}


def job_config(content=None, *, name="job", input_location=None, **runner) -> dict:
    return {"model_cfg": {"model": "llama-2-7b"}, "content": content, "input_location": input_location,
            "output_data_path": f"s3://{BUCKET}/out/{name}.json", "state_location": f"s3://{BUCKET}/state/{name}",
            "data_parallelism": runner.pop("data_parallelism", 1),
            "runner": {"checkpoint_every": 10, "checkpoint_seconds": 0.5, "retry_base_seconds": 0.01, **runner}}


def config_for(server, config: dict, worker: int = 0) -> RunnerConfig:
    return RunnerConfig.from_job_config(config, {"LLME_BATCH_SERVER_URL": server.url, "JOB_COMPLETION_INDEX": str(worker)})


def prompt_index(body: dict) -> int:
    return len(body["prompt"].split()) - 1


def test_200_prompts_run_to_the_end_with_outputs_in_input_order(s3, vllm):
    assert run(config_for(vllm, job_config(v1_content(200)))) == EXIT_OK
    outputs = read_json(s3, "out/job.json")
    assert len(outputs) == 200
    assert [output["num_prompt_tokens"] for output in outputs] == list(range(1, 201))
    assert outputs[0] == {"text": " w0 w1 w2 w3", "num_prompt_tokens": 1, "num_completion_tokens": 4, "tokens": None}
    assert read_json(s3, "out/job.json.errors.json") == []
    sent = [body for path, body in vllm.state.requests if path == "/v1/completions"]
    assert sorted(prompt_index(body) for body in sent) == list(range(200))  # each prompt once
    assert sent[0]["model"] == "llama-2-7b" and sent[0]["max_tokens"] == 4
    progress = read_json(s3, "state/job/progress/0.json")
    assert progress["num_completed"] == 200 and progress["total"] == 200 and progress["done"] is True


def test_openai_requests_get_server_responses_and_bad_items_are_recorded_not_fatal(s3, vllm):
    content = [
        {"model": "ignored", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "stream": True},
        {"prompt": "one two", "max_tokens": 3},
        {"neither": "prompt nor messages"},
        {"prompt": "refused by the server", "max_tokens": 3},
        "not an object",
    ]
    real_take = vllm.state.take_failure

    def refuse_the_fourth():  # the server answers 400 to the request of item 3 only
        path, body = vllm.state.requests[-1]
        return 400 if body.get("prompt") == "refused by the server" else real_take()

    vllm.state.take_failure = refuse_the_fourth
    assert run(config_for(vllm, job_config(content, max_concurrency=1))) == EXIT_OK
    outputs = read_json(s3, "out/job.json")
    assert outputs[0]["object"] == "chat.completion" and outputs[0]["choices"][0]["message"]["content"] == " w0 w1"
    assert outputs[1]["object"] == "text_completion" and outputs[1]["usage"]["completion_tokens"] == 3
    assert outputs[2:] == [None, None, None]
    errors = {error["index"]: error["error"] for error in read_json(s3, "out/job.json.errors.json")}
    assert set(errors) == {2, 3, 4}
    assert "neither `messages` nor `prompt`" in errors[2]
    assert errors[3].startswith("HTTP 400") and "injected 400" in errors[3]
    assert "not a JSON object" in errors[4]
    chat = [body for path, body in vllm.state.requests if path == "/v1/chat/completions"][0]
    assert chat["model"] == "llama-2-7b" and "stream" not in chat
    progress = read_json(s3, "state/job/progress/0.json")
    assert (progress["num_completed"], progress["num_failed"]) == (5, 3)


def test_transient_server_errors_are_retried_and_persistent_ones_recorded(s3, vllm):
    vllm.state.fail_next(503, times=3)
    assert run(config_for(vllm, job_config(v1_content(3), name="retried", max_concurrency=1))) == EXIT_OK
    assert None not in read_json(s3, "out/retried.json")
    vllm.state.fail_next(503, times=100)
    assert run(config_for(vllm, job_config(v1_content(2), name="gave-up", max_concurrency=1, max_retries=2))) == EXIT_OK
    assert read_json(s3, "out/gave-up.json") == [None, None]
    assert [error["index"] for error in read_json(s3, "out/gave-up.json.errors.json")] == [0, 1]


def test_input_from_a_stored_file_and_a_local_state_folder(s3, vllm, tmp_path):
    s3.put_object(Bucket=BUCKET, Key="in/content.json", Body=json.dumps(v1_content(5)).encode())
    config = job_config(input_location=f"s3://{BUCKET}/in/content.json")
    config["state_location"] = str(tmp_path / "state")
    assert run(config_for(vllm, config)) == EXIT_OK
    assert [output["num_prompt_tokens"] for output in read_json(s3, "out/job.json")] == [1, 2, 3, 4, 5]
    assert json.loads((tmp_path / "state" / "progress" / "0.json").read_text())["num_completed"] == 5


def test_unreadable_input_fails_the_run_with_a_reason(s3, vllm):
    s3.put_object(Bucket=BUCKET, Key="in/bad.json", Body=b"{not json")
    config = job_config(input_location=f"s3://{BUCKET}/in/bad.json")
    assert run(config_for(vllm, config)) != EXIT_OK
    config = job_config(input_location=f"s3://{BUCKET}/in/missing.json", name="missing")
    assert run(config_for(vllm, config)) != EXIT_OK
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="out/")


def test_workers_share_the_batch_and_the_last_one_writes_the_output(s3, vllm):
    config = job_config(v1_content(7), data_parallelism=2)
    assert run(config_for(vllm, config, worker=1)) == EXIT_OK
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="out/")  # worker 0 has not run yet
    assert run(config_for(vllm, config, worker=0)) == EXIT_OK
    assert [output["num_prompt_tokens"] for output in read_json(s3, "out/job.json")] == [1, 2, 3, 4, 5, 6, 7]
    reports = [read_json(s3, f"state/job/progress/{worker}.json") for worker in (0, 1)]
    assert [report["total"] for report in reports] == [4, 3]
    assert checkpoint.summarize(reports) == {"total": 7, "num_completed": 7, "num_failed": 0, "done": True, "error": None}


def test_a_model_server_that_never_answers_stops_the_run_with_its_own_code(s3):
    config = job_config(v1_content(3), server_wait_seconds=1)
    assert run(RunnerConfig.from_job_config(config, {"LLME_BATCH_SERVER_URL": "http://127.0.0.1:9"})) == EXIT_SERVER_UNAVAILABLE
    progress = read_json(s3, "state/job/progress/0.json")
    assert "did not answer /health" in progress["error"] and progress["done"] is False


# --- a real process, killed ---------------------------------------------------------------------


def start_runner(tmp_path, server, config: dict) -> subprocess.Popen:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    env = {**os.environ, "LLME_JOB_CONFIG_PATH": str(path), "LLME_BATCH_SERVER_URL": server.url}
    return subprocess.Popen([sys.executable, "-m", "jobs.batch_runner"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_progress(s3, name: str, at_least: int, process: subprocess.Popen, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        try:
            done = read_json(s3, f"state/{name}/progress/0.json")["num_completed"]
        except s3.exceptions.NoSuchKey:
            done = 0
        if done >= at_least:
            return done
        time.sleep(0.05)
    raise AssertionError(f"the runner did not reach {at_least} items in {timeout} s")


def checkpointed(name: str) -> set[int]:
    return set(checkpoint.Checkpoint(f"s3://{BUCKET}/state/{name}", 0).load())


@pytest.mark.parametrize("kill", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_runner_killed_half_way_resumes_without_redoing_finished_prompts(s3, tmp_path, kill):
    name = f"killed-{kill.name}"
    with ModelServer("vllm", delay=0.02) as server:
        config = job_config(v1_content(200), name=name, max_concurrency=4)
        first = start_runner(tmp_path, server, config)
        wait_for_progress(s3, name, 100, first)
        first.send_signal(kill)
        code = first.wait(timeout=30)
        assert code == (EXIT_TERMINATED if kill == signal.SIGTERM else -signal.SIGKILL), first.stdout.read()
        saved = checkpointed(name)
        assert 100 <= len(saved) < 200
        if kill == signal.SIGTERM:
            assert "checkpointed" in first.stdout.read()
        sent_before = len(server.state.requests)

        second = start_runner(tmp_path, server, config)
        assert second.wait(timeout=60) == EXIT_OK, second.stdout.read()
        resent = {prompt_index(body) for _, body in server.state.requests[sent_before:]}
        assert not resent & saved  # nothing checkpointed was sent again
        assert resent | saved == set(range(200))
    outputs = read_json(s3, f"out/{name}.json")
    assert [output["num_prompt_tokens"] for output in outputs] == list(range(1, 201))
    assert read_json(s3, f"state/{name}/progress/0.json")["num_completed"] == 200
