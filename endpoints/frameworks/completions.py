"""v1 completions: request rules (docs/wire-contract.md#completions) and translation to and from
each framework's own API (docs/wire-contract.md#framework-translation). Pure functions; the
gateway does the transport.

vLLM and SGLang endpoints run their OpenAI-compatible servers, so a v1 completion becomes an
OpenAI `/v1/completions` call; TGI and LightLLM use `/generate[_stream]`; TensorRT-LLM the
Triton ensemble; DeepSpeed its `/predict` / `/stream` service."""
import json
import math
from dataclasses import dataclass

from endpoints.choices import InferenceFramework as F
from llmengine_site.errors import InvalidRequest, RequestShapeError

VLLM_LIKE = (F.VLLM, F.SGLANG)
SAMPLING_FRAMEWORKS = (F.TEXT_GENERATION_INFERENCE, F.VLLM, F.SGLANG, F.LIGHTLLM)
PENALTY_FRAMEWORKS = (F.VLLM, F.SGLANG, F.LIGHTLLM)
GUIDED = ("guided_json", "guided_regex", "guided_choice", "guided_grammar")


@dataclass(frozen=True)
class Completion:
    prompt: str
    max_new_tokens: int
    temperature: float
    stop_sequences: list | None = None
    return_token_log_probs: bool = False
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    include_stop_str_in_output: bool | None = None
    guided_json: dict | None = None
    guided_regex: str | None = None
    guided_choice: list | None = None
    guided_grammar: str | None = None
    skip_special_tokens: bool = True


_FIELDS = {
    "prompt": (str,), "max_new_tokens": (int,), "temperature": (int, float),
    "stop_sequences": (list,), "return_token_log_probs": (bool,), "presence_penalty": (int, float),
    "frequency_penalty": (int, float), "top_k": (int,), "top_p": (int, float),
    "include_stop_str_in_output": (bool,), "guided_json": (dict,), "guided_regex": (str,),
    "guided_choice": (list,), "guided_grammar": (str,), "skip_special_tokens": (bool,),
}
_REQUIRED = ("prompt", "max_new_tokens", "temperature")


def parse_completion(body) -> Completion:
    """A Completion from a request body; RequestShapeError lists every bad field."""
    if not isinstance(body, dict):
        raise RequestShapeError([{"loc": ["body"], "msg": "The request body must be a JSON object", "type": "type_error"}])
    errors, values = [], {}
    for name, types in _FIELDS.items():
        value = body.get(name)
        if value is None:
            if name in _REQUIRED:
                errors.append({"loc": ["body", name], "msg": "field required", "type": "value_error.missing"})
            continue
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            errors.append({"loc": ["body", name], "msg": f"must be of type {types[0].__name__}", "type": "type_error"})
            continue
        values[name] = value
    _check_range(values, errors, "temperature", 0, 1)
    _check_range(values, errors, "presence_penalty", 0, 2)
    _check_range(values, errors, "frequency_penalty", 0, 2)
    if "max_new_tokens" in values and values["max_new_tokens"] < 1:
        errors.append({"loc": ["body", "max_new_tokens"], "msg": "must be at least 1", "type": "value_error"})
    if "top_k" in values and values["top_k"] < -1:
        errors.append({"loc": ["body", "top_k"], "msg": "must be -1 or greater", "type": "value_error"})
    if "top_p" in values and not 0 < values["top_p"] <= 1:
        errors.append({"loc": ["body", "top_p"], "msg": "must be in (0, 1]", "type": "value_error"})
    if "stop_sequences" in values and not all(isinstance(s, str) for s in values["stop_sequences"]):
        errors.append({"loc": ["body", "stop_sequences"], "msg": "must be a list of strings", "type": "type_error"})
    if errors:
        raise RequestShapeError(errors)
    return Completion(**values)


def _check_range(values, errors, name, low, high):
    if name in values and not low <= values[name] <= high:
        errors.append({"loc": ["body", name], "msg": f"must be between {low} and {high}", "type": "value_error"})


def check_for_framework(request: Completion, framework: str) -> None:
    """Raise InvalidRequest (400) for parameters this framework cannot honour."""
    if framework not in (F.TEXT_GENERATION_INFERENCE, F.VLLM, F.LIGHTLLM, F.TENSORRT_LLM, F.DEEPSPEED):
        raise InvalidRequest(f"v1 completions are not supported for {framework} endpoints; use /v1/completions (OpenAI)")
    if request.top_k == 0:
        raise InvalidRequest("top_k: 0 is not allowed (use -1 or null for no limit)")
    if request.temperature == 0:
        if request.top_k not in (None, -1) or request.top_p not in (None, 1):
            raise InvalidRequest("top_k and top_p must be null when temperature is 0 (greedy decoding)")
    if framework not in SAMPLING_FRAMEWORKS and (request.top_k not in (None, -1) or request.top_p not in (None, 1)):
        raise InvalidRequest(f"top_k/top_p are not supported by {framework}")
    if framework not in PENALTY_FRAMEWORKS and (request.presence_penalty or request.frequency_penalty):
        raise InvalidRequest(f"presence_penalty/frequency_penalty are not supported by {framework}")
    if framework == F.TENSORRT_LLM and request.return_token_log_probs:
        raise InvalidRequest("return_token_log_probs is not supported by tensorrt_llm")
    if framework != F.VLLM and request.include_stop_str_in_output is not None:
        raise InvalidRequest("include_stop_str_in_output is only supported by vllm")
    guided = [name for name in GUIDED if getattr(request, name) is not None]
    if guided and framework != F.VLLM:
        raise InvalidRequest(f"{guided[0]} is only supported by vllm")
    if len(guided) > 1:
        raise InvalidRequest(f"only one guided decoding option may be set (got {', '.join(guided)})")


# ----------------------------------------------------------------------------- requests


def framework_request(request: Completion, framework: str, served_model: str, *, stream: bool) -> dict:
    """The body of the framework call for a v1 completion."""
    if framework in VLLM_LIKE:
        body = {"model": served_model, "prompt": request.prompt, "max_tokens": request.max_new_tokens,
                "temperature": request.temperature, "presence_penalty": request.presence_penalty or 0.0,
                "frequency_penalty": request.frequency_penalty or 0.0,
                "skip_special_tokens": request.skip_special_tokens}
        if request.temperature > 0:
            body["top_k"] = -1 if request.top_k is None else request.top_k
            body["top_p"] = 1.0 if request.top_p is None else request.top_p
        if request.stop_sequences:
            body["stop"] = request.stop_sequences
        if request.return_token_log_probs:
            body["logprobs"] = 1
        if request.include_stop_str_in_output is not None:
            body["include_stop_str_in_output"] = request.include_stop_str_in_output
        for name in GUIDED:
            if getattr(request, name) is not None:
                body[name] = getattr(request, name)
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body
    if framework in (F.TEXT_GENERATION_INFERENCE, F.LIGHTLLM):
        parameters = {"max_new_tokens": request.max_new_tokens}
        if not stream and framework == F.TEXT_GENERATION_INFERENCE:
            parameters["decoder_input_details"] = True
        if request.stop_sequences and framework == F.TEXT_GENERATION_INFERENCE:
            parameters["stop"] = request.stop_sequences
        if request.temperature > 0:
            parameters.update(temperature=request.temperature, do_sample=True)
            if request.top_k not in (None, -1):
                parameters["top_k"] = request.top_k
            if request.top_p not in (None, 1, 1.0):
                parameters["top_p"] = request.top_p
        else:
            parameters["do_sample"] = False
        if framework == F.LIGHTLLM:
            parameters.update(presence_penalty=request.presence_penalty or 0.0,
                              frequency_penalty=request.frequency_penalty or 0.0)
            if request.return_token_log_probs:
                parameters["return_details"] = True
        return {"inputs": request.prompt, "parameters": parameters}
    if framework == F.TENSORRT_LLM:
        body = {"text_input": request.prompt, "max_tokens": request.max_new_tokens,
                "stop_words": request.stop_sequences or "", "bad_words": "", "temperature": request.temperature}
        if stream:
            body["stream"] = True
        return body
    # DeepSpeed ("instant-llm" service)
    body = {"prompts": [request.prompt], "token_probs": True, "serialize_results_as_string": False,
            "generate_kwargs": {"do_sample": True, "temperature": request.temperature,
                                "max_new_tokens": request.max_new_tokens}}
    if request.stop_sequences:
        body["stop_sequence"] = request.stop_sequences[0]
    return body


# ----------------------------------------------------------------------------- responses


def sync_output(payload: dict, framework: str, request: Completion) -> dict:
    """CompletionOutput (`text`, `num_prompt_tokens`, `num_completion_tokens`, `tokens`)."""
    tokens = None
    if framework in VLLM_LIKE:
        choice = payload["choices"][0]
        usage = payload.get("usage") or {}
        logprobs = choice.get("logprobs")
        if request.return_token_log_probs and logprobs:
            tokens = [{"token": t, "log_prob": lp} for t, lp in zip(logprobs["tokens"], logprobs["token_logprobs"])]
        return {"text": choice["text"], "num_prompt_tokens": usage.get("prompt_tokens"),
                "num_completion_tokens": usage.get("completion_tokens", 0), "tokens": tokens}
    if framework == F.TEXT_GENERATION_INFERENCE:
        details = payload.get("details") or {}
        if request.return_token_log_probs:
            tokens = [{"token": t["text"], "log_prob": t["logprob"]} for t in details.get("tokens") or []]
        return {"text": payload["generated_text"], "num_prompt_tokens": len(details.get("prefill") or []) or None,
                "num_completion_tokens": details.get("generated_tokens", 0), "tokens": tokens}
    if framework == F.LIGHTLLM:
        text = payload["generated_text"]
        text = text[0] if isinstance(text, list) else text
        if request.return_token_log_probs:
            tokens = [{"token": t["text"], "log_prob": t["logprob"]} for t in payload.get("tokens") or []]
        return {"text": text, "num_prompt_tokens": None,
                "num_completion_tokens": payload.get("count_output_tokens", 0), "tokens": tokens}
    if framework == F.TENSORRT_LLM:
        text = payload["text_output"]
        if text.startswith(request.prompt):
            text = text[len(request.prompt):]
        return {"text": text, "num_prompt_tokens": None,
                "num_completion_tokens": len(payload.get("output_log_probs") or []) or len(text.split()), "tokens": None}
    result = payload.get("result", payload)
    if isinstance(result, str):
        result = json.loads(result)
    first = result[0] if isinstance(result, list) else result
    probs = first.get("token_probs") or {}
    if request.return_token_log_probs and probs:
        tokens = [{"token": t, "log_prob": math.log(p) if p > 0 else float("-inf")}
                  for t, p in zip(probs.get("tokens", []), probs.get("token_probs", []))]
    return {"text": first["text"], "num_prompt_tokens": None,
            "num_completion_tokens": len(probs.get("tokens") or []), "tokens": tokens}


@dataclass
class StreamState:
    """What a stream has produced so far (completion tokens are counted across events)."""

    completion_tokens: int = 0
    prompt_tokens: int | None = None


def stream_output(event: dict, framework: str, request: Completion, state: StreamState) -> dict | None:
    """CompletionStreamOutput for one framework event, or None for events that carry no text
    (usage-only chunks are folded into the state)."""
    token = None
    if framework in VLLM_LIKE:
        usage = event.get("usage") or {}
        if usage:
            state.prompt_tokens = usage.get("prompt_tokens")
            state.completion_tokens = usage.get("completion_tokens", state.completion_tokens)
        choices = event.get("choices") or []
        if not choices:
            return None
        choice = choices[0]
        finished = choice.get("finish_reason") is not None
        if choice.get("text"):
            state.completion_tokens = max(state.completion_tokens, 0) + (0 if usage else 1)
        logprobs = choice.get("logprobs")
        if request.return_token_log_probs and logprobs and logprobs.get("tokens"):
            token = {"token": logprobs["tokens"][-1], "log_prob": logprobs["token_logprobs"][-1]}
        text = choice.get("text") or ""
    elif framework in (F.TEXT_GENERATION_INFERENCE, F.LIGHTLLM):
        state.completion_tokens += 1
        text = event["token"]["text"]
        finished = event.get("generated_text") is not None or bool(event.get("finished"))
        if request.return_token_log_probs:
            token = {"token": text, "log_prob": event["token"].get("logprob")}
        details = event.get("details") or {}
        if finished and details.get("generated_tokens"):
            state.completion_tokens = details["generated_tokens"]
    elif framework == F.TENSORRT_LLM:
        state.completion_tokens += 1
        text, finished = event.get("text_output", ""), False
    else:
        result = event.get("result", event)
        if "response" in result:
            first = result["response"][0]
            text, finished = first.get("text", ""), True
        else:
            state.completion_tokens += 1
            text, finished = result.get("token", ""), False
    return {"text": text, "finished": finished,
            "num_prompt_tokens": state.prompt_tokens if finished else None,
            "num_completion_tokens": state.completion_tokens, "token": token}


def is_validation_error(status: int, payload) -> bool:
    """Upstream errors that are the caller's fault (answered 400, not 500)."""
    if status in (400, 422):
        return True
    return isinstance(payload, dict) and payload.get("error_type") == "validation"
