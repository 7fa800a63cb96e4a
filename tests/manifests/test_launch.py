"""Launch commands per framework (docs/wire-contract.md#launch-commands): flags, weights, and shell safety."""
import json
import os
import shlex
import stat
import subprocess
import sys

import pytest

from endpoints.frameworks.launch import LLMServingInput, llm_bundle
from endpoints.images import full_image as framework_image


def serving(**overrides) -> LLMServingInput:
    values = dict(
        model_name="llama-2-7b", framework="vllm", image_tag="0.6.3", num_shards=1, quantize=None,
        checkpoint_path=None, hf_repo="meta-llama/Llama-2-7b-hf", chat_template_override=None,
        framework_args={},
    )
    values.update(overrides)
    return LLMServingInput(**values)


def script(bundle: dict) -> str:
    command = bundle["command"]
    assert command[:2] == ["/bin/bash", "-c"] and len(command) == 3
    return command[2]


def server_words(bundle: dict) -> list[str]:
    """The words of the final `exec ...` sub-command, as bash would split them."""
    return shlex.split(script(bundle).rsplit("; exec ", 1)[1])


def run_with_stub_server(bundle: dict, tmp_path, stub: str) -> list[str]:
    """Runs the real command with bash, `stub` replaced by a program that records its argv."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "argv.json"
    program = bin_dir / stub
    # An absolute interpreter: `env python3` would find the stub itself.
    program.write_text(f"#!{sys.executable}\nimport json, sys\njson.dump(sys.argv[1:], open({str(record)!r}, 'w'))\n")
    program.chmod(program.stat().st_mode | stat.S_IEXEC)
    environment = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    subprocess.run(bundle["command"], cwd=tmp_path, env=environment, check=True, timeout=30)
    return json.loads(record.read_text())


def test_tgi_without_checkpoint_loads_the_hugging_face_repo_directly():
    bundle = llm_bundle(serving(framework="text_generation_inference", model_name="llama-7b", image_tag="0.9.3",
                                num_shards=4, hf_repo="huggyllama/llama-7b"))
    assert server_words(bundle) == [
        "text-generation-launcher", "--hostname", "::", "--model-id", "huggyllama/llama-7b", "--num-shard", "4",
        "--port", "5005", "--max-input-length", "1024", "--max-total-tokens", "2048",
    ]
    assert "s5cmd" not in script(bundle)
    assert bundle["flavor"] == "streaming_enhanced_runnable_image"
    assert bundle["repository"] == "text-generation-inference" and bundle["tag"] == "0.9.3"
    assert (bundle["predict_route"], bundle["streaming_predict_route"], bundle["healthcheck_route"]) == (
        "/generate", "/generate_stream", "/health")


def test_tgi_quantize_adds_the_bitsandbytes_flag_and_llama_2_gets_4k_context():
    bundle = llm_bundle(serving(framework="text_generation_inference", quantize="bitsandbytes"))
    words = server_words(bundle)
    assert words[-2:] == ["--quantize", "bitsandbytes"]
    assert words[words.index("--max-input-length") + 1] == "4095"
    assert words[words.index("--max-total-tokens") + 1] == "4096"


def test_s3_checkpoint_is_downloaded_into_model_files_before_the_server_starts():
    bundle = llm_bundle(serving(framework="text_generation_inference", checkpoint_path="s3://bucket/llama 7b/"))
    text = script(bundle)
    download = next(part for part in text.split("; ") if part.startswith('"$S5CMD"'))
    assert "'s3://bucket/llama 7b/*' model_files/" in download
    assert "--include '*.safetensors'" in download and "--exclude 'optimizer*'" in download
    assert text.index("s5cmd") < text.index("exec text-generation-launcher")
    assert server_words(bundle)[server_words(bundle).index("--model-id") + 1] == "model_files"


def test_checkpoint_that_is_not_s3_is_refused():
    with pytest.raises(ValueError, match="s3://"):
        llm_bundle(serving(checkpoint_path="gs://bucket/model"))


def test_no_checkpoint_and_no_repo_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="needs checkpoint_path"):
        llm_bundle(serving(hf_repo=None))


def test_vllm_turns_every_extra_arg_into_a_kebab_case_flag():
    args = {"max_model_len": 4096, "trust_remote_code": True, "disable_log_requests": False,
            "rope_scaling": {"type": "dynamic", "factor": 2.0}, "gpu_memory_utilization": 0.85,
            "tool_call_parser": "hermes", "seed": None}
    words = server_words(llm_bundle(serving(framework_args=args, num_shards=2)))
    assert words[:3] == ["python3", "-m", "vllm.entrypoints.openai.api_server"]
    assert words[words.index("--max-model-len") + 1] == "4096"
    assert words[words.index("--gpu-memory-utilization") + 1] == "0.85"
    assert words[words.index("--tool-call-parser") + 1] == "hermes"
    assert json.loads(words[words.index("--rope-scaling") + 1]) == {"type": "dynamic", "factor": 2.0}
    after_flag = words[words.index("--trust-remote-code") + 1:]
    assert not after_flag or after_flag[0].startswith("--")  # a bare flag, no value
    assert "--disable-log-requests" not in words and "--seed" not in words
    assert words[words.index("--tensor-parallel-size") + 1] == "2"
    assert words[words.index("--served-model-name") + 1] == "llama-2-7b"
    assert words[words.index("--model") + 1] == "meta-llama/Llama-2-7b-hf"
    assert (words[words.index("--host") + 1], words[words.index("--port") + 1]) == ("::", "5005")


def test_huggingface_repo_extra_arg_never_becomes_a_server_flag():
    words = server_words(llm_bundle(serving(framework_args={"huggingface_repo": "org/x"})))
    assert "--huggingface-repo" not in words


def test_vllm_does_not_force_enforce_eager_but_passes_it_when_asked():
    assert "--enforce-eager" not in script(llm_bundle(serving()))
    assert "--enforce-eager" in server_words(llm_bundle(serving(framework_args={"enforce_eager": True})))


def test_vllm_awq_quantize_and_tensor_parallel_size_follow_the_endpoint():
    words = server_words(llm_bundle(serving(quantize="awq", num_shards=4, framework_args={"tensor_parallel_size": 1})))
    assert words[words.index("--quantization") + 1] == "awq"
    assert words.count("--tensor-parallel-size") == 1 and words[words.index("--tensor-parallel-size") + 1] == "4"


def test_vllm_routes_are_the_openai_server_routes():
    bundle = llm_bundle(serving())
    assert bundle["healthcheck_route"] == "/health"
    assert bundle["routes"] == ["/v1/chat/completions", "/v1/completions"]
    assert bundle["worker_command"] is None and bundle["worker_env"] is None


def test_chat_template_cannot_break_out_of_the_shell_and_arrives_byte_exact(tmp_path):
    template = "{{ messages }}'; touch pwned; echo '\n$(touch pwned2) `touch pwned3` \"\\n\""
    bundle = llm_bundle(serving(chat_template_override=template))
    argv = run_with_stub_server(bundle, tmp_path, "python3")
    assert not any((tmp_path / name).exists() for name in ("pwned", "pwned2", "pwned3"))
    template_file = argv[argv.index("--chat-template") + 1]
    with open(template_file) as handle:
        assert handle.read() == template
    os.remove(template_file)


def test_user_values_reach_the_server_as_single_literal_words(tmp_path):
    hostile = "x; touch pwned #"
    bundle = llm_bundle(serving(
        model_name="m$(touch pwned)", hf_repo="org/repo'; touch pwned; '",
        framework_args={"tokenizer": hostile, "override_neuron_config": {"k": "'; touch pwned; '"}},
    ))
    argv = run_with_stub_server(bundle, tmp_path, "python3")
    assert not (tmp_path / "pwned").exists()
    assert argv[argv.index("--tokenizer") + 1] == hostile
    assert argv[argv.index("--served-model-name") + 1] == "m$(touch pwned)"
    assert argv[argv.index("--model") + 1] == "org/repo'; touch pwned; '"


def test_extra_arg_names_must_be_snake_case_words():
    with pytest.raises(ValueError, match="invalid argument name"):
        llm_bundle(serving(framework_args={"x --evil": 1}))


def test_vllm_arguments_llm_engine_owns_are_refused():
    with pytest.raises(ValueError, match="port cannot be set"):
        llm_bundle(serving(framework_args={"port": 8000}))


def test_vllm_multi_node_runs_ray_with_pipeline_parallel_over_the_nodes():
    bundle = llm_bundle(serving(num_shards=8, nodes_per_worker=2))
    words = server_words(bundle)
    assert words[words.index("--pipeline-parallel-size") + 1] == "2"
    assert words[words.index("--tensor-parallel-size") + 1] == "8"
    assert words[words.index("--distributed-executor-backend") + 1] == "ray"
    assert "ray start --head" in script(bundle)
    assert "ray start --address" in bundle["worker_command"][2]
    assert bundle["env"]["RAY_CLUSTER_SIZE"] == "$(K8S_LWS_CLUSTER_SIZE)"
    assert bundle["worker_env"] == bundle["env"]


def test_multi_node_is_vllm_only():
    with pytest.raises(ValueError, match="only supported for vllm"):
        llm_bundle(serving(framework="sglang", nodes_per_worker=2))


def test_quantization_the_framework_does_not_support_is_refused():
    with pytest.raises(ValueError, match="not supported by vllm"):
        llm_bundle(serving(quantize="bitsandbytes"))


def test_sglang_serves_the_repo_with_tp_size_and_its_extra_args():
    bundle = llm_bundle(serving(framework="sglang", image_tag="0.4.1", num_shards=2,
                                framework_args={"context_length": 8192, "huggingface_repo": "ignored/x"}))
    words = server_words(bundle)
    assert words[:3] == ["python3", "-m", "sglang.launch_server"]
    assert words[words.index("--model-path") + 1] == "meta-llama/Llama-2-7b-hf"
    assert words[words.index("--tp-size") + 1] == "2" and words[words.index("--context-length") + 1] == "8192"
    assert "--huggingface-repo" not in words
    assert bundle["extra_routes"] == ["/v1/chat/completions", "/v1/completions"]


def test_lightllm_downloads_the_repo_locally_and_serves_it():
    bundle = llm_bundle(serving(framework="lightllm", num_shards=2))
    assert "huggingface-cli download meta-llama/Llama-2-7b-hf --local-dir model_files" in script(bundle)
    words = server_words(bundle)
    assert words[words.index("--model_dir") + 1] == "model_files" and words[words.index("--tp") + 1] == "2"


def test_tensorrt_llm_needs_a_checkpoint_and_copies_the_whole_prefix():
    with pytest.raises(ValueError, match="tensorrt_llm endpoints need checkpoint_path"):
        llm_bundle(serving(framework="tensorrt_llm"))
    bundle = llm_bundle(serving(framework="tensorrt_llm", num_shards=2, checkpoint_path="s3://b/engines"))
    assert "'s3://b/engines/*' ./" in script(bundle)
    assert server_words(bundle) == ["python3", "launch_triton_server.py", "--world_size=2", "--model_repo=./model_repo/"]
    assert bundle["healthcheck_route"] == "/v2/health/ready"


def test_deepspeed_sync_uses_the_plain_runnable_image_and_a_long_readiness_delay():
    streaming = llm_bundle(serving(framework="deepspeed", num_shards=2))
    sync = llm_bundle(serving(framework="deepspeed", num_shards=2, endpoint_type="sync"))
    assert (streaming["flavor"], streaming["readiness_initial_delay_seconds"]) == ("streaming_enhanced_runnable_image", 60)
    assert (sync["flavor"], sync["readiness_initial_delay_seconds"]) == ("runnable_image", 1800)
    assert streaming["env"] == {"MODEL_NAME": "llama-2-7b"} and streaming["repository"] == "instant-llm"


def test_equal_inputs_give_equal_commands_whatever_the_argument_order():
    first = llm_bundle(serving(framework_args={"max_model_len": 1, "seed": 2}))
    second = llm_bundle(serving(framework_args={"seed": 2, "max_model_len": 1}))
    assert first == second


def test_framework_image_uses_the_docker_repo_prefix_unless_the_repository_names_a_registry(settings):
    settings.LLME_DOCKER_REPO_PREFIX = "123.dkr.ecr.us-west-2.amazonaws.com/"
    assert framework_image("vllm", "0.6.3") == "123.dkr.ecr.us-west-2.amazonaws.com/vllm:0.6.3"
    assert framework_image("ghcr.io/org/vllm", "1") == "ghcr.io/org/vllm:1"
    settings.LLME_DOCKER_REPO_PREFIX = ""
    assert framework_image("vllm", "0.6.3") == "vllm:0.6.3"
