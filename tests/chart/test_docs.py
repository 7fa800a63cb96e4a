"""docs/self-hosting.md matches the public guide the users follow and the chart it describes."""
import json
import re

from tests.chart.helm import ROOT, find, render

DOC = (ROOT / "docs" / "self-hosting.md").read_text()
GUIDE = ROOT.parent / "shared" / "self_hosting_guide.md"


def _blocks(text: str) -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)


def _normalise(text: str) -> str:
    return " ".join(text.replace("$ ", "").split())


def test_every_curl_command_and_answer_of_the_guide_is_in_our_doc():
    assert GUIDE.is_file(), f"the public guide is expected at {GUIDE}"
    ours = _normalise(DOC)
    guide_blocks = [block for block in _blocks(GUIDE.read_text()) if "curl" in block or block.lstrip().startswith("{")]
    assert len(guide_blocks) >= 6
    for block in guide_blocks:
        assert _normalise(block) in ours, block


def test_iam_policy_is_valid_json_and_allows_only_the_endpoint_queue_pattern():
    policies = [json.loads(block) for block in _blocks(DOC) if '"Statement"' in block]
    permissions = next(policy for policy in policies if any("sqs:*" in s["Action"] for s in policy["Statement"]))
    (sqs,) = [s for s in permissions["Statement"] if "sqs:*" in s["Action"]]
    assert sqs["Resource"] == "arn:aws:sqs:${region}:${account_id}:llm-engine-endpoint-id-*"


def test_doc_names_the_pods_the_chart_creates():
    objects = render()
    for kind, name in [("Deployment", "llm-engine"), ("Deployment", "llm-engine-cacher"),
                       ("Deployment", "llm-engine-endpoint-builder"), ("DaemonSet", "llm-engine-image-cache-a10")]:
        find(objects, kind, name)
        assert name in DOC


def test_doc_explains_client_setup_and_api_keys():
    assert "LLM_ENGINE_BASE_PATH=http://localhost:5000/" in DOC
    assert "SCALE_API_KEY" in DOC
    assert "python manage.py create_api_key --user" in DOC
    assert "trust-username" in DOC and "api-key" in DOC
