"""The image (no Docker engine here: the Dockerfile is read, not built) runs as the non-root
user the chart expects and its default command is the gateway the chart runs."""
import json

from tests.chart.helm import ROOT, containers, find, render

DOCKERFILE = ROOT / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    logical, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        current += " " + stripped.rstrip("\\").strip()
        if not stripped.endswith("\\"):
            keyword, _, rest = current.strip().partition(" ")
            logical.append((keyword.upper(), rest.strip()))
            current = ""
    return logical


def _only(keyword: str) -> str:
    values = [rest for kw, rest in _instructions() if kw == keyword]
    assert len(values) == 1, f"expected one {keyword}, found {values}"
    return values[0]


def test_base_image_is_python_311_slim():
    assert _only("FROM") == "python:3.11-slim"


def test_runs_as_the_numeric_non_root_user_of_the_chart():
    assert _only("USER") == "10001:10001"
    objects = render()
    for name in ("llm-engine", "llm-engine-cacher", "llm-engine-endpoint-builder"):
        security = find(objects, "Deployment", name)["spec"]["template"]["spec"]["securityContext"]
        assert security["runAsUser"] == 10001 and security["runAsGroup"] == 10001


def test_installs_requirements_and_collects_static_files_at_build_time():
    runs = " && ".join(rest for kw, rest in _instructions() if kw == "RUN")
    assert "pip install -r requirements.txt" in runs
    assert "python manage.py collectstatic --noinput" in runs
    env = " ".join(rest for kw, rest in _instructions() if kw == "ENV")
    assert "STATIC_ROOT=/app/staticfiles" in env


def test_default_command_is_the_gateway_the_chart_runs():
    cmd = json.loads(_only("CMD"))
    (gateway,) = containers(find(render(), "Deployment", "llm-engine"))
    assert cmd == gateway["command"]
    assert "0.0.0.0:5000" in cmd
    assert [kw for kw, _ in _instructions()].count("ENTRYPOINT") == 0, "an ENTRYPOINT would wrap the chart's commands"


def test_chart_commands_exist_in_the_project():
    assert (ROOT / "manage.py").is_file()
    assert (ROOT / "llmengine_site" / "asgi.py").is_file()
    requirements = (ROOT / "requirements.txt").read_text().lower()
    for package in ("gunicorn", "uvicorn-worker", "django-dramatiq", "whitenoise"):
        assert package in requirements, package


def test_dockerignore_keeps_secrets_and_local_state_out_but_not_the_code():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", ".env", "var", ".tools"} <= ignored
    for needed in ("llmengine_site", "endpoints", "jobs", "templates", "manage.py", "requirements.txt"):
        assert needed not in ignored, needed
