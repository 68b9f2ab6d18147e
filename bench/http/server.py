"""Deskflow served by gunicorn (`web.wsgi:app`) as a subprocess, for the measurements.

Bound to 127.0.0.1 on a free port, with the database and a secret key every worker
shares in its environment; ready once /health answers; stopped (SIGTERM, then SIGKILL
after a grace period) when the block ends. `Served.cpu_seconds` is the CPU time its
workers used so far (Linux /proc): a measure of the work per request that, unlike the
response time, other processes on the machine do not inflate.
"""

from __future__ import annotations

import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ServerConfig:
    workers: int = 4
    threads: int = 1  # 1: sync workers; more: gthread workers

    def describe(self) -> str:
        if self.threads == 1:
            return f"gunicorn, {self.workers} sync workers"
        return f"gunicorn, {self.workers} gthread workers x {self.threads} threads"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Served:
    address: str  # host:port
    pid: int  # gunicorn's arbiter; the workers are its children

    def cpu_seconds(self) -> float | None:
        """User and system CPU time of the workers alive now; None off Linux."""
        if not Path("/proc/self/stat").exists():
            return None
        ticks, total = os.sysconf("SC_CLK_TCK"), 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (name) "
            if int(fields[1]) == self.pid:  # ppid
                total += int(fields[11]) + int(fields[12])  # utime + stime
        return total / ticks


@contextmanager
def serving(url: str, config: ServerConfig, log: Path, timeout: float = 60) -> Iterator[Served]:
    """Run gunicorn on the database at `url`; yields it once it answers."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(config.workers),
        "--threads",
        str(config.threads),
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout",
        "120",
        "--log-level",
        "warning",
        "web.wsgi:app",
    ]
    env = {
        **os.environ,
        "DESKFLOW_DATABASE_URL": url,
        "DESKFLOW_SECRET_KEY": secrets.token_urlsafe(32),
    }
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        _wait_until_healthy(port, process, timeout, log)
        yield Served(f"127.0.0.1:{port}", process.pid)
    finally:
        _stop(process)


def _wait_until_healthy(port: int, process: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}; see {log}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer /health within {timeout:.0f}s; see {log}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # gunicorn's graceful shutdown, workers included
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
