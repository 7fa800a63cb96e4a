"""Network namespaces for the fake kubelet's pods, and TCP relays into and out of them.

Each pod gets its own network namespace (only a loopback interface, as a pod's network as seen
from inside), held by a sleeping process like a pod's pause container. Nothing is routed: a
`Relay` listens in one namespace and opens each connection's other end in another one, which is
how the kubelet-side pieces are played here:
- a pod reaching a host service (PostgreSQL, Redis, moto, the fake API server): a relay listening
  on the pod's own 127.0.0.1:<port>, connecting on the host;
- a pod reaching a Service: a relay listening on the Service's address inside the pod, connecting
  inside a ready backend pod's namespace to the target port (what kube-proxy does);
- `kubectl port-forward`: a relay listening in the caller's namespace, connecting inside the pod.
A socket keeps the namespace it was created in, so only socket creation switches namespaces
(`setns` applies to the calling thread alone). Needs root (CAP_SYS_ADMIN), as `make test` has.
"""
from __future__ import annotations

import ctypes
import os
import socket
import subprocess
import threading
from typing import Callable

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"setns: {os.strerror(error)}")


class NetworkNamespace:
    """A new network namespace with its loopback up, alive until `close()`."""

    def __init__(self):
        self.process = subprocess.Popen(
            ["unshare", "--net", "--", "sh", "-c", "ip link set lo up && echo up && exec sleep 86400"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        line = self.process.stdout.readline()
        if line.strip() != b"up":
            self.process.kill()
            raise RuntimeError(f"could not make a network namespace: {self.process.stderr.read().decode()}")
        self.fd = os.open(self.path, os.O_RDONLY)

    @property
    def path(self) -> str:
        return f"/proc/{self.process.pid}/ns/net"

    def socket(self) -> socket.socket:
        """A TCP socket that lives in this namespace."""
        host = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            _setns(self.fd)
            try:
                return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            finally:
                _setns(host)
        finally:
            os.close(host)

    def connect(self, address: tuple[str, int], timeout: float = 5.0) -> socket.socket:
        sock = self.socket()
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except OSError:
            sock.close()
            raise
        sock.settimeout(None)
        return sock

    def close(self) -> None:
        os.close(self.fd)
        self.process.kill()
        self.process.wait()
        self.process.stdout.close()
        self.process.stderr.close()


def host_connect(address: tuple[str, int]) -> Callable[[], socket.socket]:
    def connect() -> socket.socket:
        sock = socket.create_connection(address, timeout=5)
        sock.settimeout(None)  # an idle connection (a database session) must stay open
        return sock
    return connect


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        try:
            target.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class Relay:
    """Listens on `address` in `namespace` (None: the host) and joins every accepted connection
    to the socket `connect()` returns; a connection whose other end cannot be opened is closed,
    as a refused connection would be."""

    def __init__(self, namespace: NetworkNamespace | None, address: tuple[str, int],
                 connect: Callable[[], socket.socket]):
        self.connect = connect
        self.listener = namespace.socket() if namespace else socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(address)
        self.listener.listen(128)
        self.address = self.listener.getsockname()
        self.open: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, name=f"relay-{address}", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._join, args=(client,), daemon=True).start()

    def _join(self, client: socket.socket) -> None:
        try:
            upstream = self.connect()
        except OSError:
            client.close()
            return
        with self.lock:
            if self.closed:
                client.close()
                upstream.close()
                return
            self.open.update((client, upstream))
        back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
        back.start()
        _pump(client, upstream)
        back.join()
        with self.lock:
            self.open.difference_update((client, upstream))
        client.close()
        upstream.close()

    def close(self) -> None:
        with self.lock:
            self.closed = True
            sockets = list(self.open)
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
