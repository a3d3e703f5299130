"""gRPC clients of the Triton segmentation model, with retries and bounded concurrency."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from cube.errors import InvalidInputError, ServiceUnavailableError

__all__ = ["AsyncTritonSegClient", "RetryPolicy", "TritonSegClient"]

T = TypeVar("T")

#: gRPC status codes worth another try (server restarting, overloaded, slow).
RETRYABLE = (
    "StatusCode.UNAVAILABLE",
    "StatusCode.DEADLINE_EXCEEDED",
    "StatusCode.RESOURCE_EXHAUSTED",
)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: ``sleep = U(0, min(max_s, base_s * 2**attempt))``."""

    attempts: int = 4
    base_s: float = 0.2
    max_s: float = 5.0
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_s < 0 or self.timeout_s <= 0:
            raise InvalidInputError("retry attempts >= 1, base_s >= 0 and timeout_s > 0 required")

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        return rng.uniform(0.0, min(self.max_s, self.base_s * 2**attempt))


def _retryable(exc: Exception) -> bool:
    from tritonclient.utils import InferenceServerException

    if not isinstance(exc, InferenceServerException):
        return False
    status = str(exc.status() or "")
    return status in RETRYABLE or "failed to connect" in str(exc).lower()


def _check(batch: np.ndarray, bands: int) -> np.ndarray:
    if batch.ndim != 4 or batch.shape[1] != bands:
        raise InvalidInputError(
            f"Triton model expects input (B, {bands}, H, W); got shape {tuple(batch.shape)}"
        )
    return np.ascontiguousarray(batch, dtype=np.float32)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = (0.5 * (1.0 + np.tanh(0.5 * x))).astype(np.float32)
    return out


class TritonSegClient:
    """Synchronous gRPC client; implements the serving ``Predictor`` protocol.

    Args:
        url: ``HOST:PORT`` of Triton's gRPC endpoint.
        model: Model name in the repository.
        retry: Retry/backoff/timeout policy.
        bands: Expected input channels (checked before sending).
        max_batch: Largest batch sent in one request (Triton's ``max_batch_size``).
        seed: Seed of the jitter RNG (tests).
    """

    def __init__(
        self,
        url: str,
        model: str = "unet_seg",
        retry: RetryPolicy | None = None,
        bands: int = 10,
        max_batch: int = 32,
        seed: int | None = None,
    ) -> None:
        import tritonclient.grpc as grpcclient

        self.url, self.model, self.bands, self.max_batch = url, model, bands, max_batch
        self.retry = retry or RetryPolicy()
        self.name = f"triton:{url}/{model}"
        self._rng = random.Random(seed)
        self._grpc = grpcclient
        self._client = grpcclient.InferenceServerClient(url)

    def _call(self, fn: Callable[[], T], what: str) -> T:
        last: Exception | None = None
        for attempt in range(self.retry.attempts):
            try:
                return fn()
            except Exception as exc:
                if not _retryable(exc):
                    raise
                last = exc
                if attempt + 1 < self.retry.attempts:
                    time.sleep(self.retry.delay(attempt, self._rng))
        raise ServiceUnavailableError(
            f"Triton at {self.url} ({what} on model {self.model!r}) failed after "
            f"{self.retry.attempts} attempts: {last}"
        ) from last

    def is_ready(self) -> bool:
        """Return True when the server and the model are ready (one try, no retries)."""
        try:
            return bool(self._client.is_model_ready(self.model))
        except Exception:
            return False

    def load(self) -> None:
        """(Re)load the model from the repository (server in explicit model-control mode).

        Triton reads the newest version directory again, so a freshly exported model is served
        without restarting the server.

        Raises:
            ServiceUnavailableError: The server is down after the retries, or refused the load.
        """
        try:
            self._call(lambda: self._client.load_model(self.model), "load")
        except ServiceUnavailableError:
            raise
        except Exception as exc:
            raise ServiceUnavailableError(
                f"Triton at {self.url} could not load model {self.model!r}: {exc}"
            ) from exc

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Return raw logits (B, 1, H, W) for a float32 batch (B, bands, H, W)."""
        x = _check(batch, self.bands)
        outs = [self._infer(x[i : i + self.max_batch]) for i in range(0, len(x), self.max_batch)]
        return np.concatenate(outs) if len(outs) > 1 else outs[0]

    def predict_proba(self, batch: np.ndarray) -> np.ndarray:
        """Sigmoid of :meth:`predict` (computed client-side)."""
        return _sigmoid(self.predict(batch))

    def _infer(self, x: np.ndarray) -> np.ndarray:
        g = self._grpc
        inp = g.InferInput("input", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        out = [g.InferRequestedOutput("logits")]

        def run() -> np.ndarray:
            res = self._client.infer(
                self.model, [inp], outputs=out, client_timeout=self.retry.timeout_s
            )
            y: np.ndarray = res.as_numpy("logits")
            return y

        return self._call(run, "infer")

    def close(self) -> None:
        """Close the gRPC channel."""
        self._client.close()


class AsyncTritonSegClient:
    """asyncio gRPC client keeping at most ``concurrency`` requests in flight.

    Args:
        url: ``HOST:PORT`` of Triton's gRPC endpoint.
        model: Model name.
        concurrency: Bound on simultaneous requests (a semaphore).
        retry: Retry policy (same semantics as the sync client).
        bands: Expected input channels.
    """

    def __init__(
        self,
        url: str,
        model: str = "unet_seg",
        concurrency: int = 16,
        retry: RetryPolicy | None = None,
        bands: int = 10,
        seed: int | None = None,
    ) -> None:
        if concurrency < 1:
            raise InvalidInputError("concurrency must be >= 1")
        self.url, self.model, self.concurrency, self.bands = url, model, concurrency, bands
        self.retry = retry or RetryPolicy()
        self._rng = random.Random(seed)
        self._client: Any = None
        self._sem: asyncio.Semaphore | None = None

    async def __aenter__(self) -> AsyncTritonSegClient:
        import tritonclient.grpc.aio as aio

        self._client = aio.InferenceServerClient(self.url)
        self._sem = asyncio.Semaphore(self.concurrency)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.close()

    async def predict(self, batch: np.ndarray) -> np.ndarray:
        """Logits of one batch, retried like :class:`TritonSegClient`."""
        import tritonclient.grpc.aio as aio

        if self._sem is None:
            raise RuntimeError("use AsyncTritonSegClient as 'async with' context manager")
        x = _check(batch, self.bands)
        inp = aio.InferInput("input", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        last: Exception | None = None
        async with self._sem:
            for attempt in range(self.retry.attempts):
                try:
                    res = await self._client.infer(
                        self.model,
                        [inp],
                        outputs=[aio.InferRequestedOutput("logits")],
                        client_timeout=self.retry.timeout_s,
                    )
                    y: np.ndarray = res.as_numpy("logits")
                    return y
                except Exception as exc:
                    if not _retryable(exc):
                        raise
                    last = exc
                    if attempt + 1 < self.retry.attempts:
                        await asyncio.sleep(self.retry.delay(attempt, self._rng))
        raise ServiceUnavailableError(
            f"Triton at {self.url} (infer on model {self.model!r}) failed after "
            f"{self.retry.attempts} attempts: {last}"
        ) from last

    async def predict_many(self, batches: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Logits of many batches, at most ``concurrency`` in flight."""
        return list(await asyncio.gather(*(self.predict(b) for b in batches)))
