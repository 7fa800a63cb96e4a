"""One check, used wherever a workload is rendered: no object given to endpoint or job pods holds
a credential of the control plane (docs/security.md#what-isolates-teams)."""
import base64
import json
import os
from urllib.parse import urlsplit

CONTROL_PLANE_ENV = ("DATABASE_URL", "SECRET_KEY", "REDIS_URL", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID",
                     "AWS_SESSION_TOKEN")


def control_plane_secrets(django_settings) -> dict[str, str]:
    """What must appear in no workload, by name: the Redis URL and password, the database URL
    and password, SECRET_KEY and the AWS keys in the control plane's environment. A value too
    common to search for (under 8 characters, e.g. a local `postgres` password) is left out."""
    database = django_settings.DATABASES["default"]
    values = {
        "SECRET_KEY": django_settings.SECRET_KEY,
        "REDIS_URL": django_settings.REDIS_URL,
        "Redis password": urlsplit(django_settings.REDIS_URL or "").password,
        "DATABASE_URL": os.environ.get("DATABASE_URL"),
        "database password": database.get("PASSWORD"),
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY"),
    }
    return {name: str(value) for name, value in values.items() if value and len(str(value)) >= 8}


def _texts(obj: dict) -> list[str]:
    """The object as JSON, plus its Secret data decoded (env, envFrom sources, args and mounted
    ConfigMaps/Secrets all end up in some object's text)."""
    texts = [json.dumps(obj)]
    if obj.get("kind") == "Secret":
        for value in (obj.get("data") or {}).values():
            try:
                texts.append(base64.b64decode(value).decode(errors="replace"))
            except ValueError:
                pass
    return texts


def assert_objects_hold_no_control_plane_secret(objects: list[dict], django_settings) -> None:
    secrets = control_plane_secrets(django_settings)
    found = [f"{obj['kind']}/{obj['metadata'].get('name')}: {name}"
             for obj in objects for text in _texts(obj) for name, value in secrets.items() if value in text]
    assert found == [], "control-plane credentials in workloads: " + "; ".join(sorted(set(found)))
    for obj in objects:
        for container in _containers(obj):
            names = {variable["name"] for variable in container.get("env", [])}
            assert not names & {"DATABASE_URL", "SECRET_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"}, (
                obj["metadata"].get("name"), container["name"], names)


def assert_no_control_plane_secret(workload: dict, django_settings) -> None:
    """A Job or CronJob: no control-plane credential, no control-plane variable names, and no bulk
    environment (`envFrom`) copied into the user's containers."""
    assert_objects_hold_no_control_plane_secret([workload], django_settings)
    for container in _containers(workload):
        for variable in container.get("env", []):
            assert variable["name"] not in CONTROL_PLANE_ENV, variable
            assert "postgres://" not in str(variable.get("value", ""))
        assert not container.get("envFrom"), "no bulk environment may be copied into user jobs"


def _containers(obj: dict) -> list[dict]:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod = (spec.get("template") or {}).get("spec") or {}
    if obj.get("kind") == "LeaderWorkerSet":
        templates = spec.get("leaderWorkerTemplate") or {}
        return [c for key in ("leaderTemplate", "workerTemplate")
                for c in ((templates.get(key) or {}).get("spec") or {}).get("containers", [])]
    return list(pod.get("containers", [])) + list(pod.get("initContainers", []))
