"""Monitoring epochs: named, ordered date windows (``2023H1``, ``2024Q2``, explicit ranges).

``parse_epochs("2023H1,2023H2,2024Q1")`` is the single entry point used by ``cube.run monitor``
and the API. Accepted forms, comma separated:

- ``YYYY`` — the calendar year;
- ``YYYYH1`` / ``YYYYH2`` — half years;
- ``YYYYQ1`` … ``YYYYQ4`` — quarters;
- ``YYYY-MM-DD/YYYY-MM-DD`` — an explicit inclusive range, named ``YYYYMMDD_YYYYMMDD``.

Epochs must be given in time order and must not overlap, so that "epoch N-1" is well defined.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise

from cube.errors import InvalidInputError

__all__ = ["Epoch", "parse_epoch", "parse_epochs"]

_PERIOD = re.compile(r"^(?P<year>\d{4})(?:(?P<kind>[HQ])(?P<n>\d))?$", re.IGNORECASE)
_NAME = re.compile(r"^[A-Za-z0-9_]+$")


@dataclass(frozen=True)
class Epoch:
    """One monitoring window (dates inclusive).

    Attributes:
        name: Identifier used in store names (``{aoi}_{name}``) and database rows.
        start: First day of the window.
        end: Last day of the window, not before ``start``.
    """

    name: str
    start: date
    end: date

    def __post_init__(self) -> None:
        """Validate the name and the order of the dates."""
        if not _NAME.match(self.name):
            raise InvalidInputError(f"epoch name {self.name!r} must be letters, digits or '_'")
        if self.end < self.start:
            raise InvalidInputError(f"epoch {self.name}: end {self.end} before start {self.start}")

    @property
    def days(self) -> int:
        """Length of the window in days."""
        return (self.end - self.start).days + 1


def _month_window(year: int, first_month: int, months: int) -> tuple[date, date]:
    start = date(year, first_month, 1)
    nxt = first_month + months
    end = date(year + (nxt - 1) // 12, (nxt - 1) % 12 + 1, 1) - timedelta(days=1)
    return start, end


def _iso(value: str, spec: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInputError(f"epoch {spec!r}: {value!r} is not an ISO date") from None


def parse_epoch(spec: str) -> Epoch:
    """Parse one epoch: ``2023``, ``2023H1``, ``2024Q3`` or ``2024-01-01/2024-06-30``.

    Raises:
        InvalidInputError: Unknown form, half/quarter out of range, bad or reversed dates.
    """
    text = spec.strip()
    if "/" in text:
        parts = text.split("/")
        if len(parts) != 2:
            raise InvalidInputError(f"epoch {spec!r}: a range is START/END")
        start, end = _iso(parts[0], spec), _iso(parts[1], spec)
        return Epoch(f"{start:%Y%m%d}_{end:%Y%m%d}", start, end)
    m = _PERIOD.match(text)
    if m is None:
        raise InvalidInputError(
            f"epoch {spec!r} is not YYYY, YYYYH1-2, YYYYQ1-4 or YYYY-MM-DD/YYYY-MM-DD"
        )
    year = int(m["year"])
    if year < 1:
        raise InvalidInputError(f"epoch {spec!r}: year out of range")
    kind = (m["kind"] or "").upper()
    if not kind:
        return Epoch(str(year), date(year, 1, 1), date(year, 12, 31))
    n = int(m["n"])
    count = 2 if kind == "H" else 4
    if not 1 <= n <= count:
        raise InvalidInputError(f"epoch {spec!r}: {kind}{n} must be {kind}1 to {kind}{count}")
    months = 12 // count
    start, end = _month_window(year, (n - 1) * months + 1, months)
    return Epoch(f"{year}{kind}{n}", start, end)


def parse_epochs(spec: str | Sequence[str]) -> tuple[Epoch, ...]:
    """Parse a comma-separated list (or a sequence) of epochs, in time order.

    Args:
        spec: ``"2023H1,2023H2,2024Q1"`` or ``["2023H1", "2024-01-01/2024-03-31"]``.

    Returns:
        The epochs, earliest first.

    Raises:
        InvalidInputError: Empty list, a bad epoch, repeated names, epochs out of time order
            or overlapping windows.
    """
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    parts = [p for p in (s.strip() for s in parts) if p]
    if not parts:
        raise InvalidInputError("no epochs given: use e.g. 2023H1,2023H2")
    epochs = tuple(parse_epoch(p) for p in parts)
    names = [e.name for e in epochs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInputError(f"epochs repeat: {dupes}")
    for prev, cur in pairwise(epochs):
        if cur.start <= prev.end:
            raise InvalidInputError(
                f"epochs must be in time order without overlap: {prev.name} ends {prev.end}, "
                f"{cur.name} starts {cur.start}"
            )
    return epochs
