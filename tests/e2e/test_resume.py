"""An interrupted Zarr write resumes from the regions already written (real processes).

A subprocess writes a slow, lazily generated dataset with ``write_dataset`` (local threads, or
the real ``dask scheduler`` + two ``dask worker`` processes); once two of its six regions are
recorded it is SIGKILLed or SIGINTed. A second process resumes: it computes only the chunks
of the regions not recorded, and the store equals an uninterrupted write.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import dask
import pytest
import xarray as xr

from cube.store import REGIONS_SUFFIX, StoreLocation, open_dataset, read_manifest
from tests.e2e import slow_write

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def _write(root: Path, log: Path, tag: str, scheduler: str, delay: float) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tests.e2e.slow_write",
        str(root),
        str(log),
        tag,
        "--scheduler",
        scheduler,
        "--delay",
        str(delay),
    ]


def _written(root: Path) -> list[list[int]]:
    marker = root / slow_write.AOI / f"features.zarr{REGIONS_SUFFIX}"
    return list(json.loads(marker.read_text())["written"]) if marker.exists() else []


def _chunk_rows(log: Path, tag: str) -> list[int]:
    lines = [line.split() for line in log.read_text().splitlines()]
    return [int(y0) for t, y0, _ in lines if t == tag]


@pytest.mark.parametrize(
    ("sig", "where"),
    [
        pytest.param(signal.SIGKILL, "threads", id="sigkill-threads"),
        pytest.param(signal.SIGINT, "cluster", id="sigint-cluster"),
    ],
)
def test_interrupted_write_resumes_from_the_regions_written(
    sig: signal.Signals, where: str, request: pytest.FixtureRequest, tmp_path: Path
):
    scheduler = "threads" if where == "threads" else request.getfixturevalue("cluster").address
    root, log = tmp_path / "store", tmp_path / "chunks.log"
    with (tmp_path / "first.log").open("wb") as out:
        first = subprocess.Popen(
            _write(root, log, "first", scheduler, delay=0.25), cwd=REPO, stdout=out, stderr=out
        )
        deadline = time.monotonic() + 60
        while len(_written(root)) < 2 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        first.send_signal(sig)
        first.wait(timeout=30)
    assert first.returncode == (130 if sig == signal.SIGINT else -sig)  # 130: KeyboardInterrupt
    written = _written(root)
    assert 2 <= len(written) < slow_write.ROWS, (tmp_path / "first.log").read_text()
    assert read_manifest(StoreLocation(str(root), slow_write.AOI))["stages"] == {
        "features": "running"
    }

    second = subprocess.run(
        _write(root, log, "second", scheduler, delay=0.0),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 0, second.stderr
    assert f"resuming: {len(written)} of {slow_write.ROWS} chunk rows written" in second.stderr
    chunk = slow_write.CHUNK
    todo = [
        y0 for y0 in range(0, slow_write.ROWS * chunk, chunk) if [y0, y0 + chunk] not in written
    ]
    assert sorted(_chunk_rows(log, "second")) == sorted(slow_write.COLS * todo)

    with dask.config.set(scheduler="threads"):  # a test Client leaves "distributed" set
        got = open_dataset(StoreLocation(str(root), slow_write.AOI), "features.zarr", "features")
        ref = slow_write.dataset(str(tmp_path / "ref.log"), "ref", 0.0)
        xr.testing.assert_identical(got.load(), ref.load())
