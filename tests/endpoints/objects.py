"""Helpers shared by the builder and reconciler tests: create an LLM endpoint through the API and
read back the objects the fake Kubernetes API server holds for it."""
from endpoints.models import ModelEndpoint

NS = "llm-engine"


def endpoint_objects(k8s_api, endpoint_id):
    selector = f"llm-engine.io/endpoint-id={endpoint_id}"
    return {(o["kind"], o["metadata"]["name"]): o for o in k8s_api.objects(namespace=NS, label_selector=selector)}


def create_llm(owner, body) -> ModelEndpoint:
    response = owner.post("/v1/llm/model-endpoints", body, format="json")
    assert response.status_code == 200, response.json()
    return ModelEndpoint.objects.get(name=body["name"])
