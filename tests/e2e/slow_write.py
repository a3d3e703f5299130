"""A slow, lazily generated dataset written by ``write_dataset``: the process a test interrupts.

``python -m tests.e2e.slow_write ROOT LOG TAG [--scheduler S] [--delay SECONDS]`` writes
``{ROOT}/slow/features.zarr`` (stage ``features``) in 6 regions of 3 chunks; every chunk
computed appends ``TAG y0 x0`` to ``LOG``, so a test counts what each run computed. Run as
``__main__``, the chunk function travels to distributed workers by value.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

from cube.cluster import make_client
from cube.store import StoreLocation, write_dataset

AOI = "slow"
ROWS, COLS, CHUNK = 6, 3, 16
CHUNKS_PER_REGION = COLS  # one chunk row per region


def _chunk(
    block: np.ndarray, log: str, tag: str, delay: float, block_info: Any = None
) -> np.ndarray:
    (y0, y1), (x0, x1) = block_info[None]["array-location"]
    time.sleep(delay)
    with open(log, "a") as fh:  # one short append per chunk: whole lines
        fh.write(f"{tag} {y0} {x0}\n")
    return np.add.outer(np.arange(y0, y1) * 1000.0, np.arange(x0, x1)).astype(np.float32)


def dataset(log: str, tag: str, delay: float) -> xr.Dataset:
    """The dataset: value ``1000·row + column`` per pixel, one chunk computed per block."""
    shape = (ROWS * CHUNK, COLS * CHUNK)
    data = da.zeros(shape, chunks=CHUNK, dtype=np.float32)
    features = data.map_blocks(_chunk, log, tag, delay, dtype=np.float32)
    return xr.Dataset(
        {"features": (("y", "x"), features)},
        coords={"y": np.arange(shape[0]) * -10.0, "x": np.arange(shape[1]) * 10.0},
        attrs={"source": "slow_write"},
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Write the dataset; exit code 130 when interrupted."""
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("log")
    p.add_argument("tag")
    p.add_argument("--scheduler", default="threads")
    p.add_argument("--delay", type=float, default=0.0)
    args = p.parse_args(argv)
    # a shell without job control starts background jobs with SIGINT ignored, and Python then
    # installs no KeyboardInterrupt handler: restore it, as a terminal's Ctrl-C would find it
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with make_client(args.scheduler):
            write_dataset(
                dataset(args.log, args.tag, args.delay),
                StoreLocation(args.root, AOI),
                "features.zarr",
                "features",
                chunks_per_region=CHUNKS_PER_REGION,
            )
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
