"""``python -m benchmarks.api_load_benchmark``: loopback load on the API (uvicorn + PostGIS).

Starts a throwaway PostGIS cluster, fills ``detections`` with synthetic polygons, runs
``uvicorn api.main:app`` (one worker) against it and sends concurrent ``/tiles`` and
``/detections`` requests from a thread pool. Writes p50/p95/p99 latency, requests per
second and error counts to ``benchmarks/results/api_load.json``. An error is a 5xx, a
transport failure or an unexpected status; 200/204 are the expected answers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg

from deploy.local.postgres import PostgresService
from deploy.local.process import free_port

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "api_load.json"
#: Synthetic detections lie in this lon/lat box (Central Europe).
EXTENT = (5.0, 45.0, 15.0, 52.0)

_FILL = """
INSERT INTO detections (geom, centroid, score, area_km2, compactness, model_version, aoi, evidence)
SELECT g, ST_Centroid(g), s, ST_Area(g::geography) / 1e6, 0.6, 'bench/1',
       'bench' || (i %% 4), jsonb_build_object('i', i)
FROM (
    SELECT i, random() AS s,
           ST_MakeEnvelope(x, y, x + w, y + w * 0.7, 4326) AS g
    FROM (SELECT i, %(minx)s + random() * (%(maxx)s - %(minx)s) AS x,
                 %(miny)s + random() * (%(maxy)s - %(miny)s) AS y,
                 0.002 + random() * 0.01 AS w
          FROM generate_series(1, %(n)s) AS i) AS p
) AS q
"""


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - np.arcsinh(np.tan(np.radians(lat))) / np.pi) / 2 * n)
    return x, y


def _tile_paths(rng: np.random.Generator, count: int) -> list[str]:
    paths = []
    for _ in range(count):
        z = int(rng.integers(6, 13))
        lon = rng.uniform(EXTENT[0], EXTENT[2])
        lat = rng.uniform(EXTENT[1], EXTENT[3])
        x, y = _tile(lon, lat, z)
        paths.append(f"/tiles/{z}/{x}/{y}.pbf")
    return paths


def _detection_paths(rng: np.random.Generator, count: int) -> list[str]:
    paths = []
    for _ in range(count):
        lon = rng.uniform(EXTENT[0], EXTENT[2] - 1)
        lat = rng.uniform(EXTENT[1], EXTENT[3] - 1)
        size = rng.choice([0.25, 0.5, 1.0])
        score = rng.choice([0.0, 0.5, 0.9])
        bbox = f"{lon:.4f},{lat:.4f},{lon + size:.4f},{lat + size:.4f}"
        paths.append(f"/detections?bbox={bbox}&min_score={score}&limit=100")
    return paths


def _load(base: str, paths: list[str], concurrency: int) -> dict[str, Any]:
    """Send every path once with ``concurrency`` threads; latency and error statistics."""

    def one(client: httpx.Client, path: str) -> tuple[float, int]:
        t0 = time.perf_counter()
        try:
            status = client.get(path).status_code
        except httpx.HTTPError:
            status = -1
        return time.perf_counter() - t0, status

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(base_url=base, timeout=30, limits=limits) as client:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            done = list(pool.map(partial(one, client), paths))
        wall = time.perf_counter() - t0
    lat = np.array([d for d, _ in done]) * 1000
    statuses = [s for _, s in done]
    return {
        "requests": len(paths),
        "concurrency": concurrency,
        "wall_s": wall,
        "rps": len(paths) / wall,
        "latency_ms_p50": float(np.percentile(lat, 50)),
        "latency_ms_p95": float(np.percentile(lat, 95)),
        "latency_ms_p99": float(np.percentile(lat, 99)),
        "errors": sum(1 for s in statuses if s not in (200, 204)),
        "status_counts": {str(s): statuses.count(s) for s in sorted(set(statuses))},
    }


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} not ready after {timeout} s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--detections", type=int, default=10_000)
    p.add_argument("--tile-requests", type=int, default=2_000)
    p.add_argument("--detection-requests", type=int, default=400)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)

    rng = np.random.default_rng(0)
    base_dir = Path(tempfile.mkdtemp(prefix="lw-bench-api-"))
    base_dir.chmod(0o755)
    pg = PostgresService(base_dir / "pg", port=free_port(), fast_unsafe=True)
    pg.start()
    proc: subprocess.Popen[bytes] | None = None
    try:
        with psycopg.connect(pg.dsn) as conn:
            conn.execute(
                _FILL,
                {
                    "minx": EXTENT[0],
                    "miny": EXTENT[1],
                    "maxx": EXTENT[2],
                    "maxy": EXTENT[3],
                    "n": args.detections,
                },
            )
            conn.execute("ANALYZE detections")
        port = free_port()
        env = os.environ | {
            "POSTGRES_HOST": "127.0.0.1",
            "POSTGRES_PORT": str(pg.port),
            "POSTGRES_DB": pg.database,
            "POSTGRES_USER": pg.app_user,
            "POSTGRES_PASSWORD": pg.app_password,
            "DATA_DIR": str(base_dir / "data"),
        }
        env.pop("TRITON_URL", None)
        cmd = [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1"]
        proc = subprocess.Popen(
            [*cmd, "--port", str(port), "--log-level", "warning", "--no-access-log"],
            cwd=ROOT,
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        _wait(f"{base}/health", proc)
        _load(base, _tile_paths(rng, 50), args.concurrency)  # warm-up (pool, plans)
        results = [
            {"endpoint": "/tiles/{z}/{x}/{y}.pbf", "zooms": "6-12"}
            | _load(base, _tile_paths(rng, args.tile_requests), args.concurrency),
            {"endpoint": "/detections?bbox&min_score&limit=100"}
            | _load(base, _detection_paths(rng, args.detection_requests), args.concurrency),
        ]
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=15)
        pg.stop()
        shutil.rmtree(base_dir, ignore_errors=True)

    report = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {
            "detections": args.detections,
            "server": "uvicorn api.main:app, 1 worker, loopback",
            "database": "embedded PostGIS (fsync off)",
        },
        "notes": "client and server share the machine's CPUs; 200 and 204 count as success",
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for row in results:
        print(
            f"{row['endpoint']}: {row['requests']} req, {row['rps']:.0f} req/s, "
            f"p50 {row['latency_ms_p50']:.1f} ms, p95 {row['latency_ms_p95']:.1f} ms, "
            f"errors {row['errors']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
