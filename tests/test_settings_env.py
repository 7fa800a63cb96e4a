"""Settings are parsed and typed in llmengine_site/settings.py only, and `.env.example` lists
every variable it reads with its default (docs/operations.md#settings)."""
import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ROOT / "llmengine_site" / "settings.py"
EXAMPLE = ROOT / ".env.example"
# settings.py's readers: env.<type>(NAME, ...), these helpers, and os.environ.get(NAME).
READERS = {"_json_env", "_choice_env", "_str_or_default"}
# Listed in .env.example, read by something other than settings.py.
READ_ELSEWHERE = {"KUBECONFIG": "the Kubernetes client (llmengine_site/infra/kube.py)", "PORT": "make run"}


def names_read_by_settings() -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(SETTINGS.read_text())):
        if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)):
            continue
        func = node.func
        if (isinstance(func, ast.Name) and func.id in READERS
                or isinstance(func, ast.Attribute) and ast.unparse(func.value) in ("env", "os.environ")):
            names.add(node.args[0].value)
    return names


def example_values() -> dict[str, str]:
    values = {}
    for line in EXAMPLE.read_text().splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            values[match[1]] = re.split(r"\s+#", match[2], maxsplit=1)[0].strip()
    return values


def settings_in(env: dict, names) -> dict:
    """The named settings, as llmengine_site.settings parses them in a process with `env`."""
    script = ("import json, sys; import llmengine_site.settings as module; "
              "print(json.dumps({n: getattr(module, n) for n in sys.argv[1:] if hasattr(module, n)}, default=str))")
    result = subprocess.run([sys.executable, "-c", script, *names], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def clean_env(tmp_path) -> dict:
    """The test run's environment without any variable .env.example lists."""
    listed = set(example_values())
    env = {key: value for key, value in os.environ.items()
           if key not in listed and not key.endswith("_FILE") and not key.startswith("LLME_")}
    env.update(DJANGO_SETTINGS_MODULE="llmengine_site.settings", LLME_VAR_DIR=str(tmp_path / "var"))
    return env


def test_env_example_lists_exactly_the_variables_settings_reads():
    listed = set(example_values())
    read = names_read_by_settings()
    assert read - listed == set(), "read by settings.py but missing from .env.example"
    assert listed - read - set(READ_ELSEWHERE) == set(), "in .env.example but read by nothing"
    assert set(READ_ELSEWHERE) <= listed


def test_the_values_env_example_lists_are_the_defaults(tmp_path):
    values = example_values()
    names = sorted(name for name in names_read_by_settings() if name.startswith("LLME_") and name != "LLME_VAR_DIR")
    names += ["ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "DEBUG", "REDIS_URL", "STATIC_ROOT", "DATABASES"]
    env = clean_env(tmp_path)
    defaults = settings_in(env, names)
    listed = settings_in({**env, **{name: value for name, value in values.items() if name != "LLME_VAR_DIR"}}, names)
    assert listed == defaults
    assert defaults["LLME_TRIGGER_IMAGE"] == "curlimages/curl:8.8.0"  # the comparison saw real values


def test_values_are_parsed_and_typed_in_settings(tmp_path):
    env = {**clean_env(tmp_path),
           "LLME_ENDPOINT_SECURITY_CONTEXT": '{"runAsUser": 1000}', "LLME_ENDPOINT_MOUNT_INFRA_CONFIG": "yes",
           "LLME_GATEWAY_URL": "http://gateway.example:8080/", "LLME_S3_PREFIX": "/tenant-data/",
           "LLME_TRIGGER_IMAGE": "", "LLME_HIGH_PRIORITY_CLASS": "", "LLME_JOB_RETENTION_SECONDS": "60",
           "LLME_K8S_READ_TIMEOUT_SECONDS": "2.5", "LLME_SHARED_READ_PREFIXES": "s3://a/x,s3://b/y"}
    parsed = settings_in(env, ["LLME_ENDPOINT_SECURITY_CONTEXT", "LLME_ENDPOINT_MOUNT_INFRA_CONFIG",
                               "LLME_GATEWAY_URL", "LLME_S3_PREFIX", "LLME_TRIGGER_IMAGE", "LLME_HIGH_PRIORITY_CLASS",
                               "LLME_JOB_RETENTION_SECONDS", "LLME_K8S_READ_TIMEOUT_SECONDS",
                               "LLME_SHARED_READ_PREFIXES"])
    assert parsed == {
        "LLME_ENDPOINT_SECURITY_CONTEXT": {"runAsUser": 1000}, "LLME_ENDPOINT_MOUNT_INFRA_CONFIG": True,
        "LLME_GATEWAY_URL": "http://gateway.example:8080", "LLME_S3_PREFIX": "tenant-data",
        "LLME_TRIGGER_IMAGE": "curlimages/curl:8.8.0", "LLME_HIGH_PRIORITY_CLASS": "llm-engine-high-priority",
        "LLME_JOB_RETENTION_SECONDS": 60, "LLME_K8S_READ_TIMEOUT_SECONDS": 2.5,
        "LLME_SHARED_READ_PREFIXES": ["s3://a/x", "s3://b/y"],
    }


def test_a_bad_value_stops_the_start_naming_the_variable(tmp_path):
    env = {**clean_env(tmp_path), "LLME_ENDPOINT_SECURITY_CONTEXT": "[1, 2]"}
    result = subprocess.run([sys.executable, "-c", "from django.conf import settings; settings.DEBUG"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "LLME_ENDPOINT_SECURITY_CONTEXT must be a JSON dict" in result.stderr


def test_code_reads_settings_as_attributes_only():
    """Outside settings.py no code reads a setting through getattr with a default of its own: a
    second default drifts from the one settings.py declares."""
    pattern = re.compile(r"getattr\(\s*(django_)?settings\s*,")
    found = [f"{path.relative_to(ROOT)}:{number}"
             for top in ("endpoints", "jobs", "llmengine_site", "tests", "scripts", "bench")
             for path in (ROOT / top).rglob("*.py") if path != SETTINGS
             for number, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert found == []
