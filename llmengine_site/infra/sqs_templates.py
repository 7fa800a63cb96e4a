"""The policy and tags every endpoint's SQS queue is created with: the defaults and the
`${name}` templates an operator may set instead (settings LLME_SQS_POLICY_TEMPLATE and
LLME_SQS_TAGS_TEMPLATE). Used by `llmengine_site/infra/queues.py`."""
import json
import string

from llmengine_site.errors import InfraError

DEFAULT_POLICY_TEMPLATE = json.dumps({
    "Version": "2012-10-17",
    "Id": "${queue_name}-policy",
    "Statement": [{
        "Sid": "AccountOwnsQueue",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::${account_id}:root"},
        "Action": "sqs:*",
        "Resource": "${queue_arn}",
    }],
})
DEFAULT_TAGS_TEMPLATE = json.dumps({
    "llm-engine-endpoint-id": "${endpoint_id}",
    "llm-engine-endpoint-name": "${endpoint_name}",
    "llm-engine-owner": "${owner}",
})


def render_template(template, values: dict[str, str], setting: str):
    """Substitute `${name}` placeholders in a JSON template (string or parsed); values are
    JSON-escaped so a quote in an endpoint name cannot break the document."""
    text = template if isinstance(template, str) else json.dumps(template)
    escaped = {key: json.dumps(str(value))[1:-1] for key, value in values.items()}
    try:
        return json.loads(string.Template(text).safe_substitute(escaped))
    except ValueError as error:
        raise InfraError(f"{setting} is not valid JSON: {error}", transient=False) from error
