"""Scheduler choice of the CLI commands."""

from __future__ import annotations

import importlib.util

import dask
import dask.array
import pytest

from cube.cluster import make_client, worker_layout
from cube.errors import InvalidInputError


def test_local_schedulers_need_no_distributed_client():
    with make_client("synchronous") as client:
        assert client is None
        assert dask.config.get("scheduler") == "synchronous"


def test_local_cluster_is_sized_to_the_machine():
    layout = worker_layout(cpus=16, memory_bytes=64 * 2**30)
    assert layout["n_workers"] == 8 and layout["threads_per_worker"] == 2
    assert layout["memory_limit"] == int(64 * 2**30 * 0.8 / 8)
    assert worker_layout(cpus=1, memory_bytes=2**30)["n_workers"] == 1


def test_local_cluster_and_connecting_to_it():
    with make_client(None, memory_limit="1GiB") as client:
        assert client is not None and client.dashboard_link
        limits = {w["memory_limit"] for w in client.scheduler_info()["workers"].values()}
        assert limits == {2**30}
        address = client.scheduler.address
        assert client.submit(sum, [1, 2]).result() == 3
        with make_client(address) as other:
            assert other.submit(max, [1, 5]).result() == 5
    assert dask.config.get("scheduler", None) is None  # back to dask's local default
    assert dask.array.ones(4).sum().compute() == 4


def test_unknown_and_unavailable_schedulers_are_clear_errors():
    with pytest.raises(InvalidInputError, match="unknown scheduler 'gpu'"), make_client("gpu"):
        pass
    if importlib.util.find_spec("dask_cuda") is None:
        message = "needs dask-cuda"
    else:
        import torch

        if torch.cuda.is_available():
            pytest.skip("a GPU is present")
        message = "no usable CUDA GPU"
    with pytest.raises(InvalidInputError, match=message), make_client("cuda"):
        pass
