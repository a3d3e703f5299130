"""GPU utilisation, memory, power and temperature of a run, sampled through NVML.

``detect`` on the GPU path (``--scheduler cuda``, or the torch backend on CUDA) runs its Dask
work inside :func:`gpu_metrics`: a :class:`GpuSampler` thread polls NVML every 0.5 s on each
GPU visible to the run, and at the end each GPU gets one :class:`GpuStats` (name, utilisation
mean/max, peak memory used of the total, mean power, maximum temperature), shown by
:func:`gpu_table`.

Which GPUs: this machine's, as ``CUDA_VISIBLE_DEVICES`` leaves them (unset: all). Entries are
indices in NVML order (PCI bus order, as CUDA with ``CUDA_DEVICE_ORDER=PCI_BUS_ID``) or
``GPU-…`` UUIDs (a unique prefix is enough); as in CUDA, the list ends at the first entry that
names no GPU (``MIG-…`` entries included). A ``LocalCUDACluster`` starts its workers on exactly
those GPUs, and the default ``LocalCluster`` and the local schedulers run on this machine too.
A remote scheduler (``tcp://``) has its GPUs on other machines: nothing is sampled there, and
:func:`gpu_metrics` prints one line saying so (its dashboard shows the workers' GPUs).

NVML is reached through the small :class:`NVML` protocol; :class:`PyNVML` (the ``pynvml``
module of ``nvidia-ml-py``, in the ``gpu`` extra) is the real one, tests pass a fake.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from rich.console import Console
from rich.table import Table

from cube.errors import LaunchwatchError

__all__ = [
    "NVML",
    "GpuMetricsUnavailableError",
    "GpuSampler",
    "GpuStats",
    "PyNVML",
    "default_nvml",
    "gpu_metrics",
    "gpu_table",
    "visible_devices",
]

MIB = 2**20


class GpuMetricsUnavailableError(LaunchwatchError, RuntimeError):
    """NVML cannot be used here (no ``pynvml`` module, no driver, no GPU)."""


class NVML(Protocol):
    """The part of NVML the sampler reads; ``handle`` values are opaque to it."""

    def init(self) -> None:
        """Initialise NVML (``nvmlInit``)."""

    def shutdown(self) -> None:
        """Release NVML (``nvmlShutdown``)."""

    def device_count(self) -> int:
        """Number of GPUs on the machine, whatever ``CUDA_VISIBLE_DEVICES`` says."""

    def handle(self, index: int) -> Any:
        """Handle of the GPU with NVML index ``index``."""

    def name(self, handle: Any) -> str:
        """Product name (``NVIDIA H100 80GB HBM3``)."""

    def uuid(self, handle: Any) -> str:
        """``GPU-…`` UUID."""

    def utilization(self, handle: Any) -> float | None:
        """Percent of the last sample period a kernel ran; ``None`` when not supported."""

    def memory(self, handle: Any) -> tuple[int, int]:
        """Memory used and total, bytes."""

    def power(self, handle: Any) -> float | None:
        """Power draw in watts; ``None`` when not supported."""

    def temperature(self, handle: Any) -> float | None:
        """GPU temperature in °C; ``None`` when not supported."""


class PyNVML:
    """:class:`NVML` through the ``pynvml`` module (``nvidia-ml-py``).

    Raises:
        GpuMetricsUnavailableError: ``pynvml`` is not installed.
    """

    def __init__(self) -> None:
        try:
            import pynvml
        except ImportError as exc:
            raise GpuMetricsUnavailableError(
                "the pynvml module is not installed (pip install 'launchwatch[gpu]')"
            ) from exc
        self._nv: Any = pynvml

    def init(self) -> None:
        """``nvmlInit``; a missing driver or library becomes :class:`GpuMetricsUnavailableError`."""
        try:
            self._nv.nvmlInit()
        except self._nv.NVMLError as exc:
            raise GpuMetricsUnavailableError(f"NVML could not be initialised ({exc})") from exc

    def shutdown(self) -> None:
        """``nvmlShutdown``."""
        self._nv.nvmlShutdown()

    def device_count(self) -> int:
        """``nvmlDeviceGetCount``."""
        return int(self._nv.nvmlDeviceGetCount())

    def handle(self, index: int) -> Any:
        """``nvmlDeviceGetHandleByIndex``."""
        return self._nv.nvmlDeviceGetHandleByIndex(index)

    def name(self, handle: Any) -> str:
        """``nvmlDeviceGetName`` (bytes in old bindings)."""
        return _text(self._nv.nvmlDeviceGetName(handle))

    def uuid(self, handle: Any) -> str:
        """``nvmlDeviceGetUUID``."""
        return _text(self._nv.nvmlDeviceGetUUID(handle))

    def utilization(self, handle: Any) -> float | None:
        """``nvmlDeviceGetUtilizationRates(...).gpu`` (not supported on MIG instances)."""
        return self._optional(lambda: float(self._nv.nvmlDeviceGetUtilizationRates(handle).gpu))

    def memory(self, handle: Any) -> tuple[int, int]:
        """``nvmlDeviceGetMemoryInfo`` used and total."""
        info = self._nv.nvmlDeviceGetMemoryInfo(handle)
        return int(info.used), int(info.total)

    def power(self, handle: Any) -> float | None:
        """``nvmlDeviceGetPowerUsage`` (milliwatts) in watts."""
        return self._optional(lambda: self._nv.nvmlDeviceGetPowerUsage(handle) / 1000.0)

    def temperature(self, handle: Any) -> float | None:
        """``nvmlDeviceGetTemperature(..., NVML_TEMPERATURE_GPU)``."""
        return self._optional(
            lambda: float(self._nv.nvmlDeviceGetTemperature(handle, self._nv.NVML_TEMPERATURE_GPU))
        )

    def _optional(self, read: Any) -> float | None:
        try:
            return float(read())
        except self._nv.NVMLError:  # NotSupported on this GPU, or not in this mode
            return None


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def default_nvml() -> NVML:
    """The real NVML (:class:`PyNVML`); tests replace this function to inject a fake."""
    return PyNVML()


def visible_devices(nvml: NVML, cuda_visible: str | None) -> list[int]:
    """NVML indices of the GPUs ``CUDA_VISIBLE_DEVICES`` leaves visible, in its order.

    ``None`` (unset) → every GPU; ``""`` → none. Entries are indices or ``GPU-`` UUID prefixes;
    the list ends at the first entry that names no GPU (a bad index, ``-1``, an ambiguous or
    unknown UUID, a ``MIG-`` instance), as CUDA reads it. Repeated GPUs count once.
    """
    count = nvml.device_count()
    if cuda_visible is None:
        return list(range(count))
    uuids: list[str] | None = None
    chosen: list[int] = []
    for raw in cuda_visible.split(","):
        entry = raw.strip()
        index: int | None = None
        if entry.isdigit():
            index = int(entry) if int(entry) < count else None
        elif entry.startswith("GPU-"):
            if uuids is None:
                uuids = [nvml.uuid(nvml.handle(i)) for i in range(count)]
            matches = [i for i, u in enumerate(uuids) if u.startswith(entry)]
            index = matches[0] if len(matches) == 1 else None
        if index is None:
            break
        if index not in chosen:
            chosen.append(index)
    return chosen


@dataclass(frozen=True)
class GpuStats:
    """One GPU over a sampled run; ``None`` where NVML had no reading."""

    index: int
    name: str
    samples: int
    utilization_mean_pct: float | None
    utilization_max_pct: float | None
    memory_peak_mib: float
    memory_total_mib: float
    power_mean_w: float | None
    temperature_max_c: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


class _Device:
    """Running aggregates of one GPU (updated under the sampler's lock)."""

    def __init__(self, index: int, handle: Any, name: str) -> None:
        self.index, self.handle, self.name = index, handle, name
        self.samples = 0
        self.util_sum = self.util_max = 0.0
        self.util_n = 0
        self.mem_peak = self.mem_total = 0
        self.power_sum = 0.0
        self.power_n = 0
        self.temp_max: float | None = None

    def add(
        self, util: float | None, mem: tuple[int, int], power: float | None, temp: float | None
    ) -> None:
        self.samples += 1
        if util is not None:
            self.util_sum += util
            self.util_n += 1
            self.util_max = max(self.util_max, util)
        self.mem_peak = max(self.mem_peak, mem[0])
        self.mem_total = mem[1]
        if power is not None:
            self.power_sum += power
            self.power_n += 1
        if temp is not None:
            self.temp_max = temp if self.temp_max is None else max(self.temp_max, temp)

    def stats(self) -> GpuStats:
        return GpuStats(
            index=self.index,
            name=self.name,
            samples=self.samples,
            utilization_mean_pct=self.util_sum / self.util_n if self.util_n else None,
            utilization_max_pct=self.util_max if self.util_n else None,
            memory_peak_mib=self.mem_peak / MIB,
            memory_total_mib=self.mem_total / MIB,
            power_mean_w=self.power_sum / self.power_n if self.power_n else None,
            temperature_max_c=self.temp_max,
        )


class GpuSampler:
    """Polls NVML in a daemon thread and aggregates per GPU.

    :meth:`start` initialises NVML and takes the first sample, the thread samples every
    ``interval`` seconds, :meth:`stop` takes a last sample, joins the thread, shuts NVML down
    and returns the statistics. Also a context manager (``stats`` after the block).

    Args:
        nvml: NVML implementation (default: :func:`default_nvml`).
        interval: Seconds between samples.
        cuda_visible: ``CUDA_VISIBLE_DEVICES`` to honour (default: this process's).
    """

    def __init__(
        self,
        nvml: NVML | None = None,
        interval: float = 0.5,
        cuda_visible: str | None = None,
    ) -> None:
        self._nvml = nvml
        self.interval = interval
        self._visible = (
            cuda_visible if cuda_visible is not None else os.environ.get("CUDA_VISIBLE_DEVICES")
        )
        self._devices: list[_Device] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0

    def start(self) -> GpuSampler:
        """Initialise NVML, find the visible GPUs, sample once and start the thread.

        Raises:
            GpuMetricsUnavailableError: No ``pynvml``, or NVML cannot be initialised.
        """
        nvml = self._nvml = self._nvml or default_nvml()
        nvml.init()
        try:
            self._devices = [
                _Device(i, handle, nvml.name(handle))
                for i, handle in ((i, nvml.handle(i)) for i in visible_devices(nvml, self._visible))
            ]
        except Exception as exc:
            nvml.shutdown()
            raise GpuMetricsUnavailableError(f"NVML could not list the GPUs ({exc})") from exc
        self._sample()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gpu-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[GpuStats]:
        """Stop the thread, take a last sample, shut NVML down; the per-GPU statistics."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            self._sample()
            assert self._nvml is not None
            with contextlib.suppress(Exception):
                self._nvml.shutdown()
        return self.stats

    @property
    def running(self) -> bool:
        """True while the sampling thread runs."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def stats(self) -> list[GpuStats]:
        """Statistics so far, one per visible GPU."""
        with self._lock:
            return [d.stats() for d in self._devices]

    def __enter__(self) -> GpuSampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        nvml = self._nvml
        assert nvml is not None
        for device in self._devices:
            try:
                h = device.handle
                reading = (nvml.utilization(h), nvml.memory(h), nvml.power(h), nvml.temperature(h))
            except Exception:  # a GPU fallen off the bus must not end the run
                self.errors += 1
                continue
            with self._lock:
                device.add(*reading)


def gpu_table(stats: Sequence[GpuStats], title: str = "GPU") -> Table:
    """Rich table: one row per GPU (utilisation mean/max, memory peak/total, mean W, max °C)."""
    samples = sorted({s.samples for s in stats})
    counts = "/".join(str(n) for n in samples) or "0"
    table = Table(title=title, caption=f"util: mean / max; memory: peak / total; {counts} samples")
    table.add_column("gpu", justify="right", no_wrap=True, min_width=3)
    table.add_column("name", no_wrap=True)
    for col in ("util %", "memory MiB", "power W", "temp °C"):
        table.add_column(col, justify="right", no_wrap=True)
    for s in stats:
        table.add_row(
            str(s.index),
            s.name,
            f"{_fmt(s.utilization_mean_pct)} / {_fmt(s.utilization_max_pct)}",
            f"{s.memory_peak_mib:.0f} / {s.memory_total_mib:.0f}",
            _fmt(s.power_mean_w),
            _fmt(s.temperature_max_c),
        )
    return table


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


@contextlib.contextmanager
def gpu_metrics(
    scheduler: str | None,
    on_gpu: bool,
    console: Console | None = None,
    interval: float = 0.5,
) -> Iterator[list[GpuStats]]:
    """Sample this machine's visible GPUs around a block; the list is filled when it ends.

    Args:
        scheduler: The ``--scheduler`` value; ``cuda`` means a GPU run.
        on_gpu: The run computes on CUDA otherwise (torch backend on ``cuda``).
        console: Where a line goes when nothing can be sampled (stderr by default).
        interval: Seconds between samples.

    Nothing is sampled when the run is not on a GPU; for a remote scheduler (its GPUs are on
    other machines) or when NVML is unavailable, one line says so and the block runs anyway.
    """
    stats: list[GpuStats] = []
    if not (on_gpu or scheduler == "cuda"):
        yield stats
        return
    console = console or Console(stderr=True)
    if scheduler is not None and "://" in scheduler:
        console.print(
            f"GPU metrics not sampled: the GPUs of {scheduler} are on its workers' machines "
            "(see the cluster dashboard)",
            highlight=False,
            markup=False,
        )
        yield stats
        return
    try:
        sampler = GpuSampler(interval=interval).start()
    except GpuMetricsUnavailableError as exc:
        console.print(f"GPU metrics unavailable: {exc}", highlight=False, markup=False)
        yield stats
        return
    if not sampler.stats:
        sampler.stop()
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        console.print(
            f"GPU metrics unavailable: NVML sees no GPU visible to this run "
            f"(CUDA_VISIBLE_DEVICES={visible!r})",
            highlight=False,
            markup=False,
        )
        yield stats
        return
    try:
        yield stats
    finally:
        stats.extend(sampler.stop())
