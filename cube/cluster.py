"""Dask schedulers for the CLI: a LocalCluster, an existing cluster, a CUDA cluster, or none.

``--scheduler`` values understood by :func:`make_client`:

* omitted → a ``distributed.LocalCluster`` sized to the machine (one worker per two cores,
  memory split evenly), its dashboard link printed;
* ``tcp://host:port`` (or ``tls://``) → connect to an existing scheduler;
* ``cuda`` → ``dask_cuda.LocalCUDACluster`` (one worker per GPU);
* ``threads`` / ``synchronous`` → no distributed scheduler (Dask's local schedulers).

Only entry points use this module; library functions build graphs and never create clients.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import dask
from rich.console import Console

from cube.errors import InvalidInputError

__all__ = ["LOCAL_SCHEDULERS", "make_client", "worker_layout"]

LOCAL_SCHEDULERS: tuple[str, ...] = ("threads", "synchronous")


def worker_layout(cpus: int | None = None, memory_bytes: int | None = None) -> dict[str, Any]:
    """LocalCluster sizing: ``n_workers``, ``threads_per_worker``, ``memory_limit`` per worker."""
    cpus = cpus or os.cpu_count() or 1
    if memory_bytes is None:
        import psutil

        memory_bytes = int(psutil.virtual_memory().total)
    workers = max(1, cpus // 2)
    return {
        "n_workers": workers,
        "threads_per_worker": max(1, cpus // workers),
        "memory_limit": int(memory_bytes * 0.8 / workers),
    }


@contextlib.contextmanager
def make_client(
    scheduler: str | None,
    memory_limit: str | int | None = None,
    console: Console | None = None,
) -> Iterator[Any]:
    """Context manager yielding a ``distributed.Client`` (or ``None`` for local schedulers).

    Args:
        scheduler: ``None``, ``tcp://HOST:PORT``, ``cuda``, ``threads`` or ``synchronous``.
        memory_limit: Per-worker memory limit of a cluster started here (bytes or ``"4GiB"``);
            default: 80 % of the machine's memory split over the workers.
        console: Where the dashboard link is printed (stderr by default).

    Raises:
        InvalidInputError: An unknown scheduler, or ``cuda`` without dask-cuda or a GPU.
    """
    console = console or Console(stderr=True)
    if scheduler in LOCAL_SCHEDULERS:
        with dask.config.set(scheduler=scheduler):
            yield None
        return
    previous = dask.config.get("scheduler", None)
    try:
        with _distributed(scheduler, memory_limit, console) as client:
            yield client
    finally:  # a closed Client leaves "dask.distributed" as the global default
        if previous is None:
            dask.config.config.pop("scheduler", None)
        else:
            dask.config.set(scheduler=previous)


@contextlib.contextmanager
def _distributed(
    scheduler: str | None, memory_limit: str | int | None, console: Console
) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    if scheduler is not None and "://" in scheduler:
        with Client(scheduler) as client:
            console.print(f"Dask cluster {scheduler}; dashboard {client.dashboard_link}")
            yield client
        return
    if scheduler == "cuda":
        cluster = _cuda_cluster(memory_limit)
    elif scheduler is None:
        layout = worker_layout()
        if memory_limit is not None:
            layout["memory_limit"] = memory_limit
        cluster = LocalCluster(**layout, dashboard_address=":0")
    else:
        raise InvalidInputError(
            f"unknown scheduler {scheduler!r}: omit it for a LocalCluster, or use "
            "tcp://HOST:PORT, cuda, threads or synchronous"
        )
    with cluster, Client(cluster) as client:
        console.print(f"Dask dashboard: [bold]{client.dashboard_link}[/bold]")
        yield client


def _cuda_cluster(memory_limit: str | int | None) -> Any:
    try:
        from dask_cuda import LocalCUDACluster
    except ImportError as exc:
        raise InvalidInputError(
            "--scheduler cuda needs dask-cuda: pip install 'launchwatch[gpu]'"
        ) from exc
    try:
        return LocalCUDACluster(memory_limit=memory_limit or "auto")
    except Exception as exc:  # no GPU / driver: dask-cuda raises several types
        raise InvalidInputError(f"--scheduler cuda: no usable CUDA GPU ({exc})") from exc
