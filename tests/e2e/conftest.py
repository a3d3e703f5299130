"""Fixtures of the end-to-end tests: a real Dask cluster of separate processes on loopback."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy.local.process import free_port

DASK = Path(sys.executable).parent / "dask"


@dataclass
class Cluster:
    """A running ``dask scheduler`` address and its ``dask worker`` processes."""

    address: str
    workers: list[subprocess.Popen[bytes]]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A ``dask scheduler`` and two single-thread ``dask worker`` processes (no nanny)."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = (tmp_path / "dask.log").open("wb")
    scheduler = subprocess.Popen(
        [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        stdout=log,
        stderr=log,
    )
    workers = [
        subprocess.Popen(
            [
                str(DASK),
                "worker",
                address,
                "--nthreads",
                "1",
                "--no-nanny",  # the process a test SIGKILLs is the worker itself
                "--memory-limit",
                "3GB",
                "--no-dashboard",
                "--name",
                f"w{k}",
            ],
            stdout=log,
            stderr=log,
        )
        for k in range(2)
    ]
    from distributed import Client

    with Client(address, timeout=60) as client:
        client.wait_for_workers(2, timeout=60)
    try:
        yield Cluster(address, workers)
    finally:
        for proc in [*workers, scheduler]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [*workers, scheduler]:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
