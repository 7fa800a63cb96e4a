"""OpenAPI entries for the inference routes. They are async Django views (outside DRF, for
speed), so drf-spectacular cannot see them; this adds them to /openapi.json (APPEND_PATHS)."""

_AUTH = [{"basicAuth": []}, {"bearerAuth": []}]
_JSON = "application/json"


def _query(name: str, description: str) -> dict:
    return {"name": name, "in": "query", "required": True, "schema": {"type": "string"}, "description": description}


def _operation(summary: str, description: str, *, params=(), body: dict | None = None, stream: bool = False,
               method_body: bool = True) -> dict:
    operation = {
        "summary": summary,
        "description": description,
        "tags": ["inference"],
        "security": _AUTH,
        "parameters": list(params),
        "responses": {
            "200": {"description": "Success" + (" (text/event-stream, one `data:` line per event)" if stream else ""),
                    "content": {("text/event-stream" if stream else _JSON): {"schema": {"type": "object"}}}},
            "400": {"description": "Invalid parameters for this endpoint (`detail` says which)"},
            "404": {"description": "Unknown endpoint, or one the caller cannot use"},
            "422": {"description": "Malformed body: `detail` lists each field and rule"},
            "503": {"description": "No replica answered before the deadline (LLME_INFERENCE_DEADLINE_SECONDS)"},
        },
    }
    if method_body and body is not None:
        operation["requestBody"] = {"required": True, "content": {_JSON: {"schema": body}}}
    return operation


_COMPLETION = {
    "type": "object",
    "required": ["prompt", "max_new_tokens", "temperature"],
    "properties": {
        "prompt": {"type": "string"}, "max_new_tokens": {"type": "integer", "minimum": 1},
        "temperature": {"type": "number", "minimum": 0, "maximum": 1},
        "stop_sequences": {"type": "array", "items": {"type": "string"}},
        "return_token_log_probs": {"type": "boolean"}, "presence_penalty": {"type": "number"},
        "frequency_penalty": {"type": "number"}, "top_k": {"type": "integer"}, "top_p": {"type": "number"},
        "include_stop_str_in_output": {"type": "boolean"}, "guided_json": {"type": "object"},
        "guided_regex": {"type": "string"}, "guided_choice": {"type": "array", "items": {"type": "string"}},
        "guided_grammar": {"type": "string"}, "skip_special_tokens": {"type": "boolean"},
    },
}
_OPENAI = {"type": "object", "required": ["model"], "properties": {"model": {"type": "string", "description": "the LLM endpoint name"}},
           "additionalProperties": True}
_TASK = {"type": "object", "properties": {"args": {}, "destination_path": {"type": "string"},
                                          "timeout_seconds": {"type": "number"}, "callback_url": {"type": "string"}}}
_NAME = _query("model_endpoint_name", "the LLM endpoint's name")
_ID = _query("model_endpoint_id", "the endpoint's id (`end_…`)")

INFERENCE_PATHS = {
    "/v1/llm/completions-sync": {"post": _operation(
        "Complete a prompt", "v1 completion on an LLM endpoint (TGI, vLLM, LightLLM, TensorRT-LLM, DeepSpeed). "
        "Also accepts the older `{\"prompts\": [...]}` body, answered as `{\"status\", \"outputs\", \"traceback\"}`.",
        params=[_NAME], body=_COMPLETION)},
    "/v1/llm/completions-stream": {"post": _operation(
        "Stream a completion", "Server-sent events; every event carries the same `request_id`; errors after the "
        "first byte arrive in-band with `error` set.", params=[_NAME], body=_COMPLETION, stream=True)},
    "/v1/chat/completions": {"post": _operation(
        "OpenAI chat completion", "OpenAI-compatible; `model` is the endpoint name (vLLM or SGLang endpoints); "
        "`stream: true` for server-sent events. Also at /v2/chat/completions.", body=_OPENAI)},
    "/v1/completions": {"post": _operation(
        "OpenAI completion", "OpenAI-compatible; `model` is the endpoint name. Also at /v2/completions.", body=_OPENAI)},
    "/v1/models": {"get": _operation("List models", "The caller's and the public LLM endpoints, OpenAI style.",
                                     method_body=False)},
    "/v1/sync-tasks": {"post": _operation(
        "Run a task synchronously", "POSTs `args` to the endpoint's predict route (or `destination_path`).",
        params=[_ID], body=_TASK)},
    "/v1/streaming-tasks": {"post": _operation(
        "Run a streaming task", "Relays the endpoint's stream as events `{status, result: {result}}`.",
        params=[_ID], body=_TASK, stream=True)},
    "/v1/async-tasks": {"post": _operation(
        "Queue an async task", "Returns `{\"task_id\"}`; poll GET /v1/async-tasks/{task_id}.", params=[_ID], body=_TASK)},
    "/v1/async-tasks/{task_id}": {"get": {
        **_operation("Get an async task", "Status and result; another team's task answers 404.", method_body=False),
        "parameters": [{"name": "task_id", "in": "path", "required": True, "schema": {"type": "string"}}]}},
    "/v1/internal/endpoints/{endpoint_id}/autoscaling-metrics": {"get": {
        "summary": "In-flight requests (KEDA metrics-api)", "tags": ["inference"], "security": [],
        "parameters": [{"name": "endpoint_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "`{\"in_flight\": N}`"}}}},
}


def _with_operation_ids(paths: dict) -> dict:
    for path, methods in paths.items():
        for method, operation in methods.items():
            slug = path.strip("/").replace("/", "_").replace("-", "_").replace("{", "").replace("}", "")
            operation.setdefault("operationId", f"{slug}_{method}")
    return paths


INFERENCE_PATHS = _with_operation_ids(INFERENCE_PATHS)
