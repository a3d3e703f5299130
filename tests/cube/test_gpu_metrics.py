"""GPU metrics of ``detect``: NVML sampling (fake NVML), the table, and the detect wiring."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rioxarray  # noqa: F401
import xarray as xr
from rich.console import Console

from cube import gpu_metrics as gm
from cube.aoi import parse_aoi
from cube.commands import detect as detect_cmd
from cube.commands import full as full_cmd
from cube.commands.subcommand import sub_args
from cube.gpu_metrics import (
    GpuMetricsUnavailableError,
    GpuSampler,
    GpuStats,
    PyNVML,
    gpu_metrics,
    gpu_table,
    visible_devices,
)
from cube.settings import Settings
from cube.store import StoreLocation, read_manifest, write_dataset
from tests.serving.conftest import pointwise_onnx

GiB = 2**30


class FakeNVML:
    """NVML over scripted readings: each device serves its list, then repeats the last one."""

    def __init__(self, devices: list[dict[str, Any]]) -> None:
        self.devices = devices
        self.served = [0] * len(devices)
        self.read: set[int] = set()
        self.inits = self.shutdowns = 0
        self.lock = threading.Lock()

    def init(self) -> None:
        self.inits += 1

    def shutdown(self) -> None:
        self.shutdowns += 1

    def device_count(self) -> int:
        return len(self.devices)

    def handle(self, index: int) -> int:
        return index

    def name(self, handle: int) -> str:
        return self.devices[handle]["name"]

    def uuid(self, handle: int) -> str:
        return self.devices[handle]["uuid"]

    def _reading(self, handle: int) -> dict[str, Any]:
        readings = self.devices[handle]["readings"]
        return readings[min(self.served[handle], len(readings) - 1)]

    def utilization(self, handle: int) -> float | None:
        return self._reading(handle)["util"]

    def memory(self, handle: int) -> tuple[int, int]:
        reading = self._reading(handle)
        if reading.get("fail"):
            raise RuntimeError("GPU is lost")
        return reading["mem"], self.devices[handle]["total"]

    def power(self, handle: int) -> float | None:
        return self._reading(handle)["power"]

    def temperature(self, handle: int) -> float | None:
        reading = self._reading(handle)
        with self.lock:  # the last call of a sample: the next sample reads the next one
            self.served[handle] += 1
            self.read.add(handle)
        return reading["temp"]


def _reading(util: float | None, mem_gib: float, power: float | None, temp: float | None):
    return {"util": util, "mem": int(mem_gib * GiB), "power": power, "temp": temp}


def fake_gpus(n: int = 4) -> FakeNVML:
    devices = [
        {
            "name": f"Fake GPU {i}",
            "uuid": f"GPU-{i}{i}aa-0000",
            "total": 80 * GiB,
            "readings": [_reading(10.0 * i, 1 + i, 100.0, 40.0 + i)],
        }
        for i in range(n)
    ]
    return FakeNVML(devices)


def test_readings_are_aggregated_per_gpu() -> None:
    nvml = fake_gpus(2)
    nvml.devices[0]["readings"] = [
        _reading(10.0, 3.0, 100.0, 65.0),
        _reading(50.0, 1.0, 300.0, 40.0),
        _reading(90.0, 2.0, 200.0, 50.0),
    ]
    nvml.devices[1]["readings"] = [_reading(None, 0.5, None, None)]  # e.g. a MIG-only GPU
    sampler = GpuSampler(nvml, interval=3600, cuda_visible=None).start()  # first sample
    sampler._sample()
    stats = sampler.stop()  # last sample
    assert nvml.inits == nvml.shutdowns == 1
    first, second = stats
    assert first == GpuStats(
        index=0,
        name="Fake GPU 0",
        samples=3,
        utilization_mean_pct=50.0,
        utilization_max_pct=90.0,
        memory_peak_mib=3 * 1024.0,
        memory_total_mib=80 * 1024.0,
        power_mean_w=200.0,
        temperature_max_c=65.0,
    )
    assert second.samples == 3 and second.memory_peak_mib == 512.0
    assert second.utilization_mean_pct is None and second.utilization_max_pct is None
    assert second.power_mean_w is None and second.temperature_max_c is None


def test_thread_samples_until_stopped() -> None:
    nvml = fake_gpus(2)
    sampler = GpuSampler(nvml, interval=0.01, cuda_visible=None).start()
    deadline = time.monotonic() + 5
    while nvml.served[1] < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sampler.running and nvml.served[1] >= 5
    stats = sampler.stop()
    assert not sampler.running
    assert not any(t.name == "gpu-sampler" for t in threading.enumerate())
    served = list(nvml.served)
    time.sleep(0.05)
    assert nvml.served == served  # no sample after stop
    assert [s.samples for s in stats] == served
    assert nvml.shutdowns == 1


def test_a_failing_gpu_reading_is_skipped() -> None:
    nvml = fake_gpus(2)
    nvml.devices[0]["readings"] = [{**_reading(10.0, 1.0, 100.0, 40.0), "fail": True}]
    with GpuSampler(nvml, interval=3600, cuda_visible=None) as sampler:
        pass
    assert sampler.errors == 2
    assert [s.samples for s in sampler.stats] == [0, 2]


@pytest.mark.parametrize(
    ("cuda_visible", "expected"),
    [
        (None, [0, 1, 2, 3]),
        ("2,0", [2, 0]),
        (" 3 , 1 ", [3, 1]),
        ("1,7,2", [1]),  # an invalid entry hides the rest, as in CUDA
        ("-1", []),
        ("", []),
        ("GPU-22,GPU-0", [2, 0]),  # unique UUID prefixes
        ("GPU-,1", []),  # ambiguous
        ("1,1,0", [1, 0]),
        ("MIG-abc,0", []),
    ],
)
def test_cuda_visible_devices(cuda_visible: str | None, expected: list[int]) -> None:
    assert visible_devices(fake_gpus(4), cuda_visible) == expected


def test_sampler_reads_only_the_gpus_of_cuda_visible_devices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    nvml = fake_gpus(4)
    with GpuSampler(nvml, interval=3600) as sampler:
        pass
    assert [(s.index, s.name) for s in sampler.stats] == [(3, "Fake GPU 3"), (1, "Fake GPU 1")]
    assert nvml.read == {1, 3}


def test_table_renders_every_gpu() -> None:
    stats = [
        GpuStats(0, "NVIDIA H100 80GB HBM3", 12, 71.4, 99.0, 30_512.3, 81_559.0, 412.6, 67.0),
        GpuStats(1, "MIG 1g.10gb", 12, None, None, 1_000.0, 9_984.0, None, None),
    ]
    console = Console(record=True, width=80)  # detect's console when not on a terminal
    console.print(gpu_table(stats, title="GPUs during detect demo"))
    text = console.export_text()
    assert "GPUs during detect demo" in text and "12 samples" in text
    rows = [line for line in text.splitlines() if "NVIDIA H100 80GB HBM3" in line]
    assert len(rows) == 1
    assert [c.strip() for c in rows[0].split("│")[1:-1]] == [
        "0",
        "NVIDIA H100 80GB HBM3",
        "71 / 99",
        "30512 / 81559",
        "413",
        "67",
    ]
    (mig,) = [line for line in text.splitlines() if "MIG 1g.10gb" in line]
    assert [c.strip() for c in mig.split("│")[1:-1]] == [
        "1",
        "MIG 1g.10gb",
        "- / -",
        "1000 / 9984",
        "-",
        "-",
    ]


def test_pynvml_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml → ImportError
    with pytest.raises(GpuMetricsUnavailableError, match="pynvml module is not installed"):
        PyNVML()


def _fake_pynvml(init_error: bool = False) -> types.ModuleType:
    mod = types.ModuleType("pynvml")

    class NVMLError(Exception):
        pass

    def init() -> None:
        if init_error:
            raise NVMLError("NVML Shared Library Not Found")

    def unsupported(*_: Any) -> None:
        raise NVMLError("Not Supported")

    mod.__dict__.update(
        NVMLError=NVMLError,
        NVML_TEMPERATURE_GPU=0,
        nvmlInit=init,
        nvmlShutdown=lambda: None,
        nvmlDeviceGetCount=lambda: 1,
        nvmlDeviceGetHandleByIndex=lambda i: f"h{i}",
        nvmlDeviceGetName=lambda h: b"Tesla T4",
        nvmlDeviceGetUUID=lambda h: "GPU-1234",
        nvmlDeviceGetUtilizationRates=lambda h: types.SimpleNamespace(gpu=37, memory=5),
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(
            used=GiB, free=14 * GiB, total=15 * GiB
        ),
        nvmlDeviceGetPowerUsage=lambda h: 70_500,
        nvmlDeviceGetTemperature=unsupported,
    )
    return mod


def test_pynvml_adapter_reads_and_converts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml())
    with GpuSampler(PyNVML(), interval=3600, cuda_visible=None) as sampler:
        pass
    (stats,) = sampler.stats
    assert stats.name == "Tesla T4" and stats.utilization_mean_pct == 37.0
    assert stats.memory_peak_mib == 1024.0 and stats.memory_total_mib == 15 * 1024.0
    assert stats.power_mean_w == 70.5  # milliwatts → W
    assert stats.temperature_max_c is None  # not supported → no reading, no error


def test_nvml_without_driver_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml(init_error=True))
    with pytest.raises(GpuMetricsUnavailableError, match="NVML could not be initialised"):
        GpuSampler(PyNVML(), cuda_visible=None).start()


def _console() -> Console:
    return Console(record=True, width=200)


def test_gpu_metrics_off_the_gpu_path_samples_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gm, "default_nvml", pytest.fail)
    console = _console()
    with gpu_metrics(None, on_gpu=False, console=console) as stats:
        pass
    assert stats == [] and console.export_text() == ""


def test_gpu_metrics_skips_a_remote_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gm, "default_nvml", pytest.fail)
    console = _console()
    with gpu_metrics("tcp://10.0.0.5:8786", on_gpu=True, console=console) as stats:
        pass
    assert stats == []
    assert "GPU metrics not sampled: the GPUs of tcp://10.0.0.5:8786" in console.export_text()


def test_gpu_metrics_without_nvml_prints_one_line_and_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    console = _console()
    ran = False
    with gpu_metrics(None, on_gpu=True, console=console) as stats:
        ran = True
    assert ran and stats == []
    lines = console.export_text().strip().splitlines()
    assert lines == [
        "GPU metrics unavailable: the pynvml module is not installed "
        "(pip install 'launchwatch[gpu]')"
    ]


def test_gpu_metrics_with_no_visible_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = fake_gpus(2)
    monkeypatch.setattr(gm, "default_nvml", lambda: nvml)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    console = _console()
    with gpu_metrics("cuda", on_gpu=False, console=console) as stats:
        pass
    assert stats == [] and nvml.shutdowns == 1
    assert "NVML sees no GPU visible to this run (CUDA_VISIBLE_DEVICES='')" in (
        console.export_text()
    )


# --- detect wiring ---------------------------------------------------------------------------


@pytest.fixture
def detect_args(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A 96 px features store, a 1x1-conv ONNX model and a stand-in for the CUDA cluster."""
    size = 96
    rng = np.random.default_rng(0)
    feats = xr.DataArray(
        rng.random((10, size, size), dtype=np.float32),
        dims=("band", "y", "x"),
        coords={"y": 500_005.0 - 10 * np.arange(size), "x": 300_005.0 + 10 * np.arange(size)},
    ).rio.write_crs("EPSG:32633")
    bbox = "14.99,4.51,15.0,4.52"
    store = tmp_path / "store"
    args = sub_args(
        detect_cmd,
        "detect",
        ["--aoi", bbox],
        store=str(store),
        model=str(pointwise_onnx(tmp_path / "pointwise.onnx")),
        serving_mode="local",
        backend="onnxruntime",
        scheduler="cuda",
        tile=32,
        overlap=8,
        memory_budget_mb=16,
        no_db=True,
    )
    aoi = parse_aoi(bbox).name
    write_dataset(
        feats.chunk({"y": 48, "x": 48}).to_dataset(name="features"),
        StoreLocation(str(store), aoi),
        "features.zarr",
        "features",
        console=_console(),
    )
    asked: list[str | None] = []

    @contextlib.contextmanager
    def cluster(scheduler: str | None, *_: Any, **__: Any) -> Iterator[None]:
        asked.append(scheduler)
        import dask

        with dask.config.set(scheduler="synchronous"):
            yield None

    monkeypatch.setattr("cube.cluster.make_client", cluster)
    args.asked = asked
    return args


def test_detect_on_a_cuda_cluster_reports_gpu_metrics(
    detect_args: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    nvml = fake_gpus(3)
    monkeypatch.setattr(gm, "default_nvml", lambda: nvml)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,2")
    result = detect_cmd.detect(detect_args, Settings())
    assert detect_args.asked == ["cuda"]
    assert [(g.index, g.name) for g in result.gpu] == [(0, "Fake GPU 0"), (2, "Fake GPU 2")]
    assert all(g.samples >= 2 for g in result.gpu)
    assert result.gpu[1].memory_peak_mib == 3 * 1024.0
    assert nvml.inits == nvml.shutdowns == 1
    out = capsys.readouterr().out
    assert out.index(f"detect {result.aoi}") < out.index(f"GPUs during detect {result.aoi}")
    assert "Fake GPU 2" in out and "Fake GPU 1" not in out


def test_detect_goes_on_without_nvml(
    detect_args: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    assert detect_cmd.run(detect_args, Settings()) == 0
    captured = capsys.readouterr()
    assert "GPU metrics unavailable: the pynvml module is not installed" in captured.err
    assert "GPUs during detect" not in captured.out
    assert f"detect {parse_aoi(detect_args.aoi).name}" in captured.out


def test_full_records_the_gpu_metrics_of_detect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stats = GpuStats(0, "Fake GPU 0", 4, 50.0, 90.0, 3072.0, 81920.0, 200.0, 65.0)
    seen: list[Any] = []

    def fake_detect(ns: Any, settings: Settings) -> detect_cmd.DetectResult:
        seen.append(ns)
        return detect_cmd.DetectResult("a", 1, 0, ns.output, [stats])

    monkeypatch.setattr(detect_cmd, "detect", fake_detect)
    args = sub_args(full_cmd, "full", ["--aoi", "demo"], scheduler="cuda", no_db=True)
    model = {"checkpoint_path": "m.onnx", "model_version": "m/1"}
    root = str(tmp_path / "store")
    output, metrics = full_cmd._detect(args, Settings(), root, "demo", "demo", model, tmp_path)
    assert seen[0].scheduler == "cuda" and output == tmp_path / "demo.detections.geojson"
    assert metrics == [stats.to_dict()]
    assert read_manifest(StoreLocation(root, "demo"))["detected"]["model_version"] == "m/1"
