"""The README's "Try it" commands run as written in a fresh clone: every ```bash block of the
section, in order, with `make run` kept running as the README says. Only the port differs (a
free one through `PORT`, which the section documents); the clone's `.venv/` is the project's
installed virtualenv, linked in, so `make run` finds it installed instead of downloading it."""
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
README_PORT = "127.0.0.1:5000"
# What each command prints when it works (the README's own comments say the same).
EXPECTED = {
    "curl ": '{"model_endpoints":[]}',
    "Model.list()": "model_endpoints=[]",
    "create_api_key": "llme-",
}


def try_it_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Try it\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, re.S)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_clone(tmp_path: Path) -> Path:
    """The repository's tracked files (what `git clone` gives), with the project's virtualenv."""
    clone = tmp_path / "llm-engine"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    assert not (clone / "var").exists() and not (clone / ".venv").exists()
    venv = clone / ".venv"
    venv.mkdir()
    for part in ("bin", "lib"):
        (venv / part).symlink_to(Path(sys.prefix) / part)
    shutil.copy(Path(sys.prefix) / "pyvenv.cfg", venv / "pyvenv.cfg")
    (venv / ".installed").touch()  # newer than the copied requirements: make installs nothing
    return clone


def clean_env(tmp_path: Path, port: int) -> dict:
    """A new user's shell: none of the test run's settings."""
    dropped = ("DATABASE_URL", "REDIS_URL", "KUBECONFIG", "DJANGO_SETTINGS_MODULE", "SCALE_API_KEY",
               "LLM_ENGINE_BASE_PATH", "LLM_ENGINE_DISABLE_VERSION_CHECK", "LLME_AUTH_MODE", "VIRTUAL_ENV",
               "PYTHONPATH", "LLME_VAR_DIR")
    env = {key: value for key, value in os.environ.items() if key not in dropped and not key.startswith("LLME_")}
    env.update(HOME=str(tmp_path), PORT=str(port), PYTHONUNBUFFERED="1")
    return env


def run_interactive(command: str, cwd: Path, env: dict, answers: list[tuple[str, str]], timeout=60.0) -> str:
    """Run `command` on a terminal (createsuperuser asks only there), answering each prompt: a
    last line that starts with the prompt's text and ends with ":"."""
    import pty

    master, slave = pty.openpty()
    process = subprocess.Popen(["bash", "-c", command], cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave,
                               start_new_session=True)
    os.close(slave)
    output, pending, deadline = "", list(answers), time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096).decode(errors="replace")
                except OSError:  # the terminal closed: the command ended
                    break
                output += chunk
            last_line = output.replace("\r", "").rsplit("\n", 1)[-1]
            if pending and last_line.startswith(pending[0][0]) and last_line.rstrip().endswith(":"):
                os.write(master, (pending.pop(0)[1] + "\n").encode())
            if process.poll() is not None and not ready:
                break
        process.wait(timeout=10)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert not pending, f"not asked {pending}:\n{output}"
    return output


def console_login(base: str, username: str, password: str) -> bool:
    with httpx.Client(base_url=base, timeout=10) as client:
        login = client.get("/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
        answer = client.post("/admin/login/?next=/admin/", data={
            "csrfmiddlewaretoken": token, "username": username, "password": password, "next": "/admin/"})
        return answer.status_code == 302 and answer.headers["location"] == "/admin/"


def test_try_it_runs_as_written_in_a_fresh_clone(tmp_path):
    blocks = try_it_blocks()
    commands = [line for block in blocks for line in block.splitlines() if line.strip()]
    assert commands[0].split("#")[0].strip() == "make run"
    assert not any(line.lstrip().startswith("python") for line in commands), "bare python: no django without the venv"
    assert any("createsuperuser" in line for line in commands)
    clone, port = fresh_clone(tmp_path), _free_port()
    env = clean_env(tmp_path, port)
    log = (tmp_path / "make-run.log").open("wb")
    server = subprocess.Popen(["bash", "-c", blocks[0]], cwd=clone, env=env, start_new_session=True,
                              stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (tmp_path / "make-run.log").read_text()
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "make-run.log").read_text()
            time.sleep(0.3)

        checked = set()
        for block in blocks[1:]:
            script = block.replace(README_PORT, f"127.0.0.1:{port}")
            if "createsuperuser" in script:
                run_interactive(script, clone, env, [("Username", "first-operator"), ("Email address", "op@example.com"),
                                                     ("Password:", "a-long-console-passphrase"),
                                                     ("Password (again)", "a-long-console-passphrase")])
                assert console_login(base, "first-operator", "a-long-console-passphrase")
                checked.add("createsuperuser")
                continue
            done = subprocess.run(["bash", "-e", "-c", script], cwd=clone, env=env, capture_output=True, text=True,
                                  timeout=120)
            assert done.returncode == 0, f"{script}\n{done.stdout}\n{done.stderr}"
            for marker, expected in EXPECTED.items():
                if marker in script:
                    assert expected in done.stdout, f"{script}\n{done.stdout}\n{done.stderr}"
                    checked.add(marker)
        assert checked == {"createsuperuser", *EXPECTED}
    finally:
        os.killpg(server.pid, 2)  # Ctrl-C, as the user stops it
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
