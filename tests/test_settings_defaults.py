"""The embedded defaults work from nothing: with no DATABASE_URL, the SQLite database lives in
LLME_VAR_DIR, which is created when missing (the image sets LLME_VAR_DIR=/tmp/llm-engine, an
empty tmpfs or emptyDir at start)."""
import os
import subprocess
import sys

from tests.chart.helm import ROOT


def test_migrate_on_the_embedded_default_creates_the_var_dir(tmp_path):
    var_dir = tmp_path / "not" / "yet" / "there"
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(LLME_VAR_DIR=str(var_dir), STATIC_ROOT=str(tmp_path / "static"))
    result = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (var_dir / "llmengine.sqlite3").is_file()
