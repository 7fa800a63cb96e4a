"""One factory per kind of endpoint the tests build, and small readers of rendered objects."""
from endpoints.frameworks.launch import LLMServingInput, llm_bundle
from endpoints.manifests import BundleSpec, EndpointSpec, bundle_spec_from

ENDPOINT_ID = "end_cismpd08agn003rr2kc0"
GROUP = "llm-engine-endpoint-id-end-cismpd08agn003rr2kc0"
QUEUE_URL = "https://sqs.us-west-2.amazonaws.com/000000000000/llm-engine-endpoint-id-end_cismpd08agn003rr2kc0"


def guide_llama_7b_spec(**overrides) -> EndpointSpec:
    """The self-hosting guide's llama-7b TGI request, as the builder would hand it over."""
    bundle = llm_bundle(LLMServingInput(
        model_name="llama-7b", framework="text_generation_inference", image_tag="0.9.3", num_shards=4,
        quantize=None, checkpoint_path=None, hf_repo="huggyllama/llama-7b", chat_template_override=None,
        framework_args={},
    ))
    values = dict(
        id=ENDPOINT_ID, name="llama-7b", owner="test_user_id", created_by="test_user_id",
        endpoint_type="streaming", bundle=bundle_spec_from(bundle, "streaming"),
        cpus="32", memory="40Gi", storage="40Gi", gpus=4, gpu_type="nvidia-ampere-a10",
        min_workers=1, max_workers=12, per_worker=1, concurrent_requests_per_worker=250, spec_version=3,
    )
    values.update(overrides)
    return EndpointSpec(**values)


def async_spec(**overrides) -> EndpointSpec:
    values = dict(
        endpoint_type="async", queue_name=f"llm-engine-endpoint-id-{ENDPOINT_ID}", queue_url=QUEUE_URL,
        queue_backend="sqs", min_workers=0, max_workers=5, per_worker=10, concurrent_requests_per_worker=4,
        task_expires_seconds=3600, queue_visibility_timeout_seconds=600,
    )
    values.update(overrides)
    return guide_llama_7b_spec(**values)


def multi_node_spec(**overrides) -> EndpointSpec:
    bundle = llm_bundle(LLMServingInput(
        model_name="llama-3-1-405b-instruct", framework="vllm", image_tag="0.6.3", num_shards=8, quantize=None,
        checkpoint_path="s3://bucket/llama-405b", hf_repo=None, chat_template_override=None, framework_args={},
        nodes_per_worker=2,
    ))
    values = dict(bundle=bundle_spec_from(bundle, "streaming"), gpus=8, gpu_type="nvidia-hopper-h100",
                  cpus="160", memory="1500Gi", nodes_per_worker=2, min_workers=1, max_workers=1)
    values.update(overrides)
    return guide_llama_7b_spec(**values)


def cpu_sync_spec(**overrides) -> EndpointSpec:
    values = dict(
        endpoint_type="sync", gpus=0, gpu_type=None, storage=None, cpus="2", memory="4Gi",
        bundle=BundleSpec(image="registry.example.com/echo:1", command=("python", "-m", "echo")),
        high_priority=True, labels={"team": "infra", "product": "echo"}, forwarder_max_concurrency=20,
    )
    values.update(overrides)
    return guide_llama_7b_spec(**values)


def by_kind(objects: list[dict]) -> dict:
    kinds = [obj["kind"] for obj in objects]
    assert len(kinds) == len(set(kinds)), f"one object per kind expected: {kinds}"
    return {obj["kind"]: obj for obj in objects}


def containers(deployment: dict) -> dict:
    return {container["name"]: container for container in deployment["spec"]["template"]["spec"]["containers"]}


def args_of(container: dict) -> dict:
    """`--flag value` pairs of the forwarder args (repeated flags collected in lists)."""
    args, pairs = container["args"], {}
    for flag, value in zip(args[::2], args[1::2]):
        pairs.setdefault(flag, []).append(value)
    return pairs
