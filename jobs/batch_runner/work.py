"""What a batch asks for: the input content -> one model-server request per item, and each
response -> the item's output in the batch output shape (docs/jobs.md):

- v1-style content `{"prompts": [...], "max_new_tokens", "temperature", ...}`: each prompt is a
  v1 completion, sent to vLLM's `/v1/completions` exactly as the gateway sends one, and its
  output is a `CompletionOutput` (`text`, `num_prompt_tokens`, `num_completion_tokens`, `tokens`);
- a list of OpenAI requests (v2): each is sent as is to `/v1/chat/completions` (it has
  `messages`) or `/v1/completions` (it has `prompt`), with `model` set to the served model and
  streaming off, and its output is the server's response object.
"""
import json
from dataclasses import dataclass

from endpoints.frameworks.completions import framework_request, parse_completion, sync_output
from llmengine_site.errors import RequestShapeError

VLLM = "vllm"
V1_CONTENT_FIELDS = ("max_new_tokens", "temperature", "stop_sequences", "return_token_log_probs",
                     "presence_penalty", "frequency_penalty", "top_k", "top_p", "skip_special_tokens")


class ContentError(Exception):
    """The batch's content cannot be run at all (not one item could be made from it)."""


class ItemError(Exception):
    """One item cannot be sent (bad fields); it is recorded as that item's failure."""


@dataclass(frozen=True)
class Work:
    """The items of a batch; `request(i)` and `output(i, response)` are pure."""

    content: object
    served_model: str

    @classmethod
    def parse(cls, content, served_model: str) -> "Work":
        if isinstance(content, dict) and isinstance(content.get("prompts"), list):
            return cls(content, served_model)
        if isinstance(content, list):
            return cls(content, served_model)
        raise ContentError("content must be an object with `prompts` (a list of strings) or a list of OpenAI "
                           "completion / chat completion requests")

    @property
    def total(self) -> int:
        return len(self.content["prompts"]) if isinstance(self.content, dict) else len(self.content)

    def _completion(self, index: int):
        given = {name: self.content.get(name) for name in V1_CONTENT_FIELDS if self.content.get(name) is not None}
        try:
            return parse_completion({**given, "prompt": self.content["prompts"][index]})
        except RequestShapeError as exc:
            raise ItemError("; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in exc.errors)) from exc

    def request(self, index: int) -> tuple[str, dict]:
        """(path on the model server, JSON body) of item `index`. Raises ItemError."""
        if isinstance(self.content, dict):
            return "/v1/completions", framework_request(self._completion(index), VLLM, self.served_model, stream=False)
        item = self.content[index]
        if not isinstance(item, dict):
            raise ItemError(f"item {index} is not a JSON object")
        body = {key: value for key, value in item.items() if value is not None and key not in ("stream", "stream_options")}
        body["model"] = self.served_model
        if isinstance(body.get("messages"), list):
            return "/v1/chat/completions", body
        if "prompt" in body:
            return "/v1/completions", body
        raise ItemError(f"item {index} has neither `messages` nor `prompt`")

    def output(self, index: int, response: dict):
        """The item's output from the model server's 200 response. Raises ItemError."""
        try:
            if isinstance(self.content, dict):
                return sync_output(response, VLLM, self._completion(index))
            if not isinstance(response, dict) or not isinstance(response.get("choices"), list):
                raise ValueError("no `choices`")
            return response
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ItemError(f"unexpected response from the model server ({exc}): {json.dumps(response)[:300]}") from exc
