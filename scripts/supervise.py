"""`make run`'s process supervisor (started by scripts/run.sh; standard library only).

Guarantees:
- the gateway port is checked before anything starts: when it is taken, one message names the
  process holding it and how to pick another port, and nothing is started;
- the gateway, the endpoint builder (with REDIS_URL) and the cacher (with a cluster) run as
  children in process groups of their own; one that exits is restarted with a log line saying
  so (after 1 s, doubling up to 30 s while it keeps exiting within 30 s of its start), and the
  others carry on: a dead builder or cacher never takes the gateway down;
- Ctrl-C (SIGINT) or SIGTERM stops everything within 5 s: each child gets SIGTERM (the gateway
  finishes in-flight requests for up to 2 s, then cuts them), and whatever is still running at
  the deadline is killed quietly. A second Ctrl-C kills at once."""
import os
import signal
import socket
import subprocess
import sys
import time

PY = sys.executable
STOP_WITHIN_SECONDS = 5.0
RESTART_DELAY_SECONDS = 1.0
MAX_RESTART_DELAY_SECONDS = 30.0
STABLE_AFTER_SECONDS = 30.0


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


# --------------------------------------------------------------------------------------------
# The port check
# --------------------------------------------------------------------------------------------
def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as handle:
                next(handle)
                for line in handle:
                    fields = line.split()
                    local, state, inode = fields[1], fields[3], fields[9]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        inodes.add(inode)
        except (OSError, StopIteration, IndexError, ValueError):
            continue
    return inodes


def port_holder(port: int) -> str | None:
    """'pid N (command line)' of a process listening on the port, when /proc shows one."""
    targets = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not targets:
        return None
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            links = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        except OSError:
            continue
        if links & targets:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    command = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                command = "?"
            return f"pid {pid} ({command[:120]})"
    return None


def port_in_use_message(port: int) -> str | None:
    """None when the gateway can listen on 0.0.0.0:port, else a message for the user."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
            return None
        except OSError as exc:
            cause = exc.strerror or str(exc)
    holder = port_holder(port)
    who = f"by {holder}" if holder else "by another process"
    return (f"port {port} is already in use {who} ({cause}).\n"
            f"    Stop that process, or pick another port: PORT={port + 1} make run")


# --------------------------------------------------------------------------------------------
# Supervision
# --------------------------------------------------------------------------------------------
class Child:
    def __init__(self, name: str, argv: list[str], quiet_stdout: bool = False):
        self.name, self.argv, self.quiet_stdout = name, argv, quiet_stdout
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0
        self.delay = RESTART_DELAY_SECONDS
        self.restart_at: float | None = None

    def start(self) -> None:
        # A process group of its own: the terminal's Ctrl-C reaches the supervisor only, which
        # then stops each child in order (no child is interrupted twice, nothing is SIGKILLed).
        stdout = subprocess.DEVNULL if self.quiet_stdout else None
        self.process = subprocess.Popen(self.argv, start_new_session=True, stdout=stdout)
        self.started_at = time.monotonic()
        self.restart_at = None

    def check(self, now: float) -> None:
        """Notice an exit and schedule a restart; start again when it is due."""
        if self.process is not None and self.process.poll() is not None:
            code = self.process.returncode
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            if now - self.started_at >= STABLE_AFTER_SECONDS:
                self.delay = RESTART_DELAY_SECONDS
            say(f"the {self.name} {how}; restarting it in {self.delay:.0f} s")
            self.process = None
            self.restart_at = now + self.delay
            self.delay = min(self.delay * 2, MAX_RESTART_DELAY_SECONDS)
        if self.process is None and self.restart_at is not None and now >= self.restart_at:
            self.start()
            say(f"the {self.name} restarted (pid {self.process.pid})")

    def signal(self, signum: int, group: bool = False) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            if group:
                os.killpg(self.process.pid, signum)
            else:
                self.process.send_signal(signum)
        except ProcessLookupError:
            pass

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Supervisor:
    def __init__(self, children: list[Child]):
        self.children = children
        self.stopping = False
        self.force = False

    def _on_signal(self, signum, frame) -> None:
        if self.stopping:
            self.force = True
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        for child in self.children:
            child.start()
        while not self.stopping:
            now = time.monotonic()
            for child in self.children:
                child.check(now)
            time.sleep(0.2)
        self.stop()
        return 0

    def stop(self) -> None:
        print(flush=True)
        say("stopping (in-flight requests get 2 s to finish)")
        deadline = time.monotonic() + STOP_WITHIN_SECONDS - 0.5
        for child in self.children:
            child.signal(signal.SIGTERM)
        while any(child.running() for child in self.children):
            if self.force or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        for child in self.children:
            child.signal(signal.SIGKILL, group=True)  # whatever is left, e.g. a stuck build thread
            if child.process is not None:
                child.process.wait()
            else:
                continue
            try:
                os.killpg(child.process.pid, signal.SIGKILL)  # grandchildren left in the group
            except (ProcessLookupError, PermissionError):
                pass
        say("stopped")


def main() -> int:
    port = int(os.environ.get("PORT", "5000"))
    message = port_in_use_message(port)
    if message:
        print(f"error: {message}", file=sys.stderr, flush=True)
        return 2

    say(f"migrating the database ({os.environ.get('DATABASE_URL') or 'SQLite file var/llmengine.sqlite3'})")
    migrate = subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"])
    if migrate.returncode != 0:
        return migrate.returncode

    children = []
    workers = "1"
    if os.environ.get("REDIS_URL"):
        say(f"starting the endpoint builder (Dramatiq worker on {os.environ['REDIS_URL']})")
        children.append(Child("endpoint builder", [
            PY, "manage.py", "rundramatiq", "--processes", "1", "--threads", "2",
            "--worker-shutdown-timeout", "3000",
        ], quiet_stdout=True))  # its stdout only lists task modules; its log goes to stderr
        workers = str(os.cpu_count() or 1)  # one gateway worker per CPU (README, "Gateway overhead")
    else:
        say("no REDIS_URL: builds run on worker threads inside the gateway")

    kubeconfig = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    if os.environ.get("KUBERNETES_SERVICE_HOST") or os.path.isfile(kubeconfig.split(":")[0]):
        say(f"starting the cacher (cluster from {kubeconfig})")
        children.append(Child("cacher", [PY, "manage.py", "run_cacher"]))
    else:
        say("no Kubernetes cluster configured (KUBECONFIG): endpoints will be accepted and their builds")
        print("    will fail with a reason saying so; set KUBECONFIG to build them for real", flush=True)

    if os.environ.get("LLME_AUTH_MODE") == "trust-username":
        say("auth mode trust-username: any Basic username is accepted as the user (evaluation only)")
    children.insert(0, Child("gateway", [
        PY, "-m", "gunicorn", "llmengine_site.asgi:application", "-k", "llmengine_site.gateway_worker.GatewayWorker",
        "-b", f"0.0.0.0:{port}", "--workers", workers, "--timeout", "120",
        # The supervisor's stop deadline is 5 s: uvicorn cuts requests after 2 s, gunicorn waits 3 s.
        "--graceful-timeout", "3", "--no-control-socket", "--log-level", "warning",
    ]))
    say(f"gateway on http://127.0.0.1:{port} (API docs at /docs, admin at /admin/); Ctrl-C stops everything")
    return Supervisor(children).run()


if __name__ == "__main__":
    sys.exit(main())
