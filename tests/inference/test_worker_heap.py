"""The gateway worker freezes its startup heap for the garbage collector (llmengine_site/asgi.py):
a full collection walking Django, the apps and the URL confs stalled every request in flight
for ~110 ms (README, "Gateway overhead")."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import gc
import llmengine_site.asgi  # what the gunicorn worker imports
import endpoints.inference.views, rest_framework.views  # the view modules are loaded by then
print(gc.get_freeze_count(), len(gc.get_objects()))
"""


def test_the_worker_heap_is_frozen_once_the_application_is_imported():
    env = {"DJANGO_SETTINGS_MODULE": "llmengine_site.settings", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    frozen, tracked = int(out[-2]), int(out[-1])
    assert frozen > 50_000  # Django, the apps and both URL confs
    assert tracked < frozen / 10  # almost nothing is left for a collection to walk
