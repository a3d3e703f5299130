"""A background process tracked by a pid file, plus port and readiness helpers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from deploy.local.service import ServiceError, ServiceStatus

__all__ = ["ManagedProcess", "free_port", "http_ok", "port_in_use", "wait_until"]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Return True when something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """Return True when ``url`` answers with a 2xx status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return 200 <= resp.status < 300
    except (urllib.error.URLError, OSError):
        return False


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    """Poll ``check`` until it returns True; raise :class:`ServiceError` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise ServiceError(f"{what} did not become ready within {timeout:.0f} s")


@dataclass(frozen=True)
class ManagedProcess:
    """A long-running child process recorded in ``{state_dir}/{name}.pid`` with a log file.

    The process runs in its own session so Ctrl-C in the terminal that started it does not
    kill it; :meth:`stop` sends SIGTERM to that session and waits.
    """

    name: str
    state_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def pid_file(self) -> Path:
        """Where the pid is recorded."""
        return self.state_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        """Where stdout and stderr go."""
        return self.state_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """Return the recorded pid if that process is alive, else None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        _reap(pid)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def spawn(self, cmd: Sequence[str], cwd: Path | None = None) -> int:
        """Start ``cmd`` in the background and record its pid."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                list(cmd),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        return proc.pid

    def exited_early(self) -> bool:
        """Return True if the recorded process is gone (it crashed during start)."""
        return self.pid() is None

    def log_tail(self, lines: int = 15) -> str:
        """Return the last lines of the log, for error messages."""
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def wait_ready(
        self, ready: Callable[[], bool], timeout: float, what: str, interval: float = 0.2
    ) -> None:
        """:func:`wait_until` ``ready``; a timeout's error carries the tail of the log."""
        try:
            wait_until(ready, timeout, what, interval=interval)
        except ServiceError as exc:
            raise ServiceError(f"{exc}: {self.log_tail()}") from exc

    def status(self, name: str, healthy: Callable[[], bool], url: str) -> ServiceStatus:
        """Running when the pid is alive; healthy when it runs and ``healthy()`` says so."""
        pid = self.pid()
        return ServiceStatus(name, pid is not None, pid is not None and healthy(), url, pid)

    def terminate(self, timeout: float = 20.0) -> None:
        """SIGTERM the process group and wait; SIGKILL after ``timeout`` s."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pid() is not None:
            _reap(pid)
            time.sleep(0.1)
        if self.pid() is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            _reap(pid)
        self.pid_file.unlink(missing_ok=True)


def _reap(pid: int) -> None:
    """Collect the exit status of our own child so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
