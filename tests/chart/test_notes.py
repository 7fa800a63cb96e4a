"""NOTES.txt renders (helm template skips it, and `helm install --dry-run` needs a cluster), so
it is rendered through `tpl` in a copy of the chart."""
import shutil

import yaml

from tests.chart.helm import CHART, REQUIRED_SETS, SAMPLE_VALUES, helm, sets

NOTES_PROBE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: notes-probe
data:
  notes: {{ tpl (.Files.Get "NOTES.txt") . | quote }}
"""


def _notes(tmp_path, *args: str) -> str:
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    shutil.copy(chart / "templates" / "NOTES.txt", chart / "NOTES.txt")
    (chart / "templates" / "notes-probe.yaml").write_text(NOTES_PROBE)
    result = helm("template", "llm-engine", str(chart), "-n", "llm-engine",
                  "--show-only", "templates/notes-probe.yaml", *args)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["data"]["notes"]


def test_notes_for_the_sample_warn_about_trust_username(tmp_path):
    notes = _notes(tmp_path, "-f", str(SAMPLE_VALUES))
    assert "kubectl port-forward -n llm-engine deploy/llm-engine 5000:5000" in notes
    assert "WARNING: auth.mode=trust-username" in notes
    assert "LLM_ENGINE_BASE_PATH=http://localhost:5000/" in notes


def test_notes_for_the_defaults_explain_how_to_create_an_api_key(tmp_path):
    notes = _notes(tmp_path, *sets(*REQUIRED_SETS))
    assert "python manage.py create_api_key --user <user> --team <team>" in notes
    assert "WARNING" not in notes
    assert "keda.triggerAuthentication.enabled=true" in notes
