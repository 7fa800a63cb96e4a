"""Response bodies of endpoints and bundles (docs/wire-contract.md#generic-model-endpoints,
docs/wire-contract.md#model-bundles)."""
import collections
import functools

import orjson
from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection, connections
from django.db.models import Func, QuerySet, TextField
from django.db.models.functions import Cast

from endpoints.callback_auth import callback_auth_body
from endpoints.choices import BundleFlavor, EndpointType
from endpoints.models import ModelBundle, ModelEndpoint
from llmengine_site.names import endpoint_group_name


def _iso(value) -> str:
    return value if isinstance(value, str) else value.isoformat()


# Columns an endpoint body is made of; a list reads only these, as plain values in ONE query
# (no model instances), so 10,000 endpoints render fast (docs/wire-contract.md#pagination).
ENDPOINT_COLUMNS = (
    "id", "name", "endpoint_type", "destination", "metadata", "status", "status_reason", "post_inference_hooks",
    "default_callback_url", "default_callback_auth", "labels", "created_by", "created_at", "last_updated_at",
    "min_workers", "max_workers", "per_worker", "concurrent_requests_per_worker", "forwarder_max_concurrency",
    "cpus", "gpus", "memory", "gpu_type", "storage", "nodes_per_worker", "optimize_costs", "public_inference",
    "task_expires_seconds", "queue_message_timeout_seconds",
)
LLM_COLUMNS = ENDPOINT_COLUMNS + (
    "model_name", "source", "inference_framework", "inference_framework_image_tag", "num_shards", "quantize",
    "checkpoint_path", "chat_template_override",
)
BUNDLE_NAME = "bundle__name"
JSON_COLUMNS = ("metadata", "labels", "post_inference_hooks", "default_callback_auth")


@functools.lru_cache(maxsize=4096)
def _decoded(text: str):
    """orjson, memoized: most endpoints carry the same few small JSON values ({} or [])."""
    return orjson.loads(text)


TIME_COLUMNS = ("created_at", "last_updated_at")
# Looked up once per endpoint of a list of 10,000: a memoized name and a plain constant are
# cheaper than the function and the enum attribute each time.
_group_name = functools.lru_cache(maxsize=65536)(endpoint_group_name)
_ASYNC = str(EndpointType.ASYNC)


class _IsoUTC(Func):
    """PostgreSQL renders a timestamp as `datetime.isoformat()` would in UTC (microseconds
    always; `_iso_text` drops ".000000" as isoformat does), far cheaper than parsing it."""
    template = "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"
    output_field = TextField()


def _iso_text(text: str) -> str:
    return text[:19] + text[26:] if text[19:26] == ".000000" else text


@functools.lru_cache(maxsize=16)
def _row_type(fields: tuple[str, ...]) -> type:
    """A named tuple of the columns a body is made of (read as `row.name`)."""
    return collections.namedtuple("EndpointRow", fields, module=__name__)


def list_values(queryset: QuerySet, columns) -> list[tuple]:
    """The rows of `queryset` as named tuples of `columns` and the bundle name, in ONE query:
    the cursor's tuples, fixed up a column at a time, then one named tuple per row (cheaper to
    make and to free than a dict per row: ~7 % of a 10,000-row list's CPU). JSON columns come
    as text and are decoded by `_decoded` (several times faster than a JSONField per row; the
    decoded values may be shared between rows and are only read); on PostgreSQL the
    timestamps come as ISO text, already in the form `_iso` gives."""
    texts = {f"{column}_json": Cast(column, TextField()) for column in columns if column in JSON_COLUMNS}
    if connection.vendor == "postgresql":
        texts.update({f"{column}_isot": _IsoUTC(column) for column in TIME_COLUMNS})
    plain = [column for column in columns if column not in JSON_COLUMNS and f"{column}_isot" not in texts]
    names, tuples = _fetch(queryset.annotate(**texts).values_list(*plain, BUNDLE_NAME, *texts))
    if not tuples:
        return []
    by_column = list(zip(*tuples))
    for index, name in enumerate(names):
        if name.endswith("_json") and name in texts:
            by_column[index] = [None if text is None else _decoded(text) for text in by_column[index]]
        elif name in texts:
            by_column[index] = list(map(_iso_text, by_column[index]))
    row = _row_type(tuple(name[:-5] if name in texts else name for name in names))
    return list(map(row._make, zip(*by_column)))


def _fetch(queryset: QuerySet) -> tuple[list[str], list[tuple]]:
    """(column names, rows) of a values_list() queryset, from the cursor itself: its ONE query
    without Django's per-row iteration (a fifth of a 10,000-row list). Only for columns that
    need no conversion from the database (text, numbers, booleans)."""
    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:
        return [], []
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        return [column[0] for column in cursor.description], cursor.fetchall()


def endpoint_values(endpoint: ModelEndpoint, columns=LLM_COLUMNS) -> tuple:
    """One endpoint as the row a list query returns."""
    row = _row_type((*columns, BUNDLE_NAME))
    return row(*(getattr(endpoint, column) for column in columns), endpoint.bundle.name)


def endpoint_body(endpoint: ModelEndpoint, state: dict | None) -> dict:
    """GetModelEndpointV1Response: desired values at once, observed numbers when known."""
    return endpoint_body_from_values(endpoint_values(endpoint, ENDPOINT_COLUMNS), state)


def llm_endpoint_body(endpoint: ModelEndpoint, state: dict | None) -> dict:
    return llm_endpoint_body_from_values(endpoint_values(endpoint), state)


def endpoint_body_from_values(r: tuple, state: dict | None) -> dict:
    """GetModelEndpointV1Response from a row of `ENDPOINT_COLUMNS` (and the bundle name)."""
    state = state or {}
    return {
        "id": r.id,
        "name": r.name,
        "endpoint_type": r.endpoint_type,
        "destination": r.destination,
        "deployment_name": _group_name(r.id),
        "metadata": r.metadata,
        "bundle_name": r.bundle__name,
        "status": r.status,
        "status_reason": r.status_reason or None,
        "post_inference_hooks": r.post_inference_hooks or None,
        "default_callback_url": r.default_callback_url,
        "default_callback_auth": callback_auth_body(r.default_callback_auth),
        "labels": r.labels,
        "aws_role": None,
        "results_s3_bucket": settings.LLME_S3_BUCKET or None,
        "created_by": r.created_by,
        "created_at": _iso(r.created_at),
        "last_updated_at": _iso(r.last_updated_at),
        "deployment_state": {
            "min_workers": r.min_workers,
            "max_workers": r.max_workers,
            "per_worker": r.per_worker,
            "concurrent_requests_per_worker": r.concurrent_requests_per_worker,
            "forwarder_max_concurrency": r.forwarder_max_concurrency,
            "available_workers": state.get("available_workers"),
            "unavailable_workers": state.get("unavailable_workers"),
        },
        "resource_state": {
            "cpus": r.cpus,
            "gpus": r.gpus,
            "memory": r.memory,
            "gpu_type": r.gpu_type,
            "storage": r.storage or None,
            "nodes_per_worker": r.nodes_per_worker,
            "optimize_costs": r.optimize_costs,
        },
        "num_queued_items": state.get("num_queued_items") if r.endpoint_type == _ASYNC else None,
        "public_inference": r.public_inference,
        "task_expires_seconds": r.task_expires_seconds,
        "queue_message_timeout_seconds": r.queue_message_timeout_seconds,
    }


def llm_endpoint_body_from_values(r: tuple, state: dict | None) -> dict:
    """GetLLMModelEndpointV1Response from a row of `LLM_COLUMNS`. `inference_framework_tag` is
    the name the official client reads (docs/wire-contract.md#parse-traps); both are sent."""
    return {
        "id": r.id,
        "name": r.name,
        "model_name": r.model_name,
        "source": r.source,
        "status": r.status,
        "status_reason": r.status_reason or None,
        "inference_framework": r.inference_framework,
        "inference_framework_image_tag": r.inference_framework_image_tag,
        "inference_framework_tag": r.inference_framework_image_tag,
        "num_shards": r.num_shards,
        "quantize": r.quantize,
        "checkpoint_path": r.checkpoint_path,
        "chat_template_override": r.chat_template_override,
        "task_expires_seconds": r.task_expires_seconds,
        "queue_message_timeout_seconds": r.queue_message_timeout_seconds,
        "spec": endpoint_body_from_values(r, state),
    }


def bundle_v2_body(bundle: ModelBundle) -> dict:
    flavor = {"flavor": bundle.flavor, **bundle.spec}
    if bundle.app_config is not None:
        flavor["app_config"] = bundle.app_config
    return {
        "id": bundle.id,
        "name": bundle.name,
        "metadata": bundle.metadata,
        "created_at": _iso(bundle.created_at),
        "model_artifact_ids": bundle.model_artifact_ids,
        "schema_location": bundle.schema_location,
        "flavor": flavor,
    }


def bundle_v1_body(bundle: ModelBundle) -> dict:
    """The v1 shape, for runnable-image bundles: the image stands where v1 had a base image."""
    return {
        "id": bundle.id,
        "name": bundle.name,
        "location": "",
        "requirements": [],
        "env_params": {
            "framework_type": "custom_base_image",
            "ecr_repo": bundle.image_repository,
            "image_tag": bundle.image_tag,
        },
        "packaging_type": "lira",
        "metadata": bundle.metadata,
        "app_config": bundle.app_config,
        "created_at": _iso(bundle.created_at),
        "model_artifact_ids": bundle.model_artifact_ids,
        "schema_location": bundle.schema_location,
    }


__all__ = ["BundleFlavor", "bundle_v1_body", "bundle_v2_body", "endpoint_body", "llm_endpoint_body",
           "endpoint_body_from_values", "llm_endpoint_body_from_values", "ENDPOINT_COLUMNS", "LLM_COLUMNS"]
