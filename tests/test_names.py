"""External names: the self-hosting guide's pod, queue and DaemonSet names."""
import pytest

from llmengine_site import names


def test_group_name_is_a_dns_label_of_the_endpoint_id():
    assert names.endpoint_group_name("end_CISMPD08agn003rr2kc0") == "llm-engine-endpoint-id-end-cismpd08agn003rr2kc0"


def test_queue_name_keeps_the_endpoint_id_verbatim():
    assert names.endpoint_queue_name("end_abc") == "llm-engine-endpoint-id-end_abc"
    assert names.endpoint_id_from_queue_name("llm-engine-endpoint-id-end_abc") == "end_abc"
    assert names.endpoint_id_from_queue_name("someone-elses-queue") is None


@pytest.mark.parametrize(
    ("gpu_type", "expected"),
    [
        ("nvidia-ampere-a10", "llm-engine-image-cache-a10"),
        ("nvidia-tesla-t4", "llm-engine-image-cache-t4"),
        ("nvidia-ampere-a100e", "llm-engine-image-cache-a100e"),
        ("nvidia-hopper-h100-1g20gb", "llm-engine-image-cache-h100-1g20gb"),
        (None, "llm-engine-image-cache-cpu"),
    ],
)
def test_image_cache_daemonset_names(gpu_type, expected):
    assert names.image_cache_daemonset_name(gpu_type) == expected


def test_job_and_trigger_objects_are_named_from_their_ids_as_dns_labels():
    assert names.job_name("ft-ABC_def") == "llm-engine-job-ft-abc-def"
    assert names.job_config_name("ft-abc") == "llm-engine-job-ft-abc-config"
    assert names.trigger_name("trig_AB") == "llm-engine-trigger-trig-ab"
    assert names.trigger_secret_name("trig_ab") == "llm-engine-trigger-trig-ab-credential"
