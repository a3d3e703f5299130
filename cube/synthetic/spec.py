"""Scene specifications and the demo presets of the synthetic Sentinel generator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from cube.errors import InvalidInputError

__all__ = ["DEMO_EPSG", "DEMO_ORIGIN", "DEMO_SCENES", "TERRAINS", "SceneSpec", "Terrain"]

Terrain = Literal["desert", "steppe", "forest", "coast", "rocky", "real"]
TERRAINS: tuple[str, ...] = ("desert", "steppe", "forest", "coast", "rocky", "real")

#: UTM 41N: the demo grid lies in an empty stretch of desert near 45.0 N, 62.9 E.
DEMO_EPSG = 32641
#: Top-left corner (x, y) of the demo grid in :data:`DEMO_EPSG`.
DEMO_ORIGIN = (470000.0, 4990000.0)


@dataclass(frozen=True)
class SceneSpec:
    """One synthetic scene footprint observed on ``n_dates`` dates.

    Attributes:
        name: Scene identifier (item ids are ``SYN_{name}_{yyyymmdd}``).
        seed: Random seed; the same spec always yields the same pixels.
        size_px: Width and height at 10 m (a multiple of 256).
        n_dates: Number of acquisitions, ``interval_days`` apart from ``start``.
        terrain: Background: desert (sand dunes), steppe, forest, coast (land + sea), rocky
            (dark plateau with wadis) or real (a real L2A tile resampled, see ``background``).
        n_complexes: Launch complexes planted (0 for confuser-only scenes).
        n_confusers: Quarries, airports, industrial yards and farms planted.
        cloud_fraction: Mean cloud cover per date in [0, 0.9].
        with_s1: Also write Sentinel-1 VV/VH (float32 dB) items per date.
        epsg: UTM EPSG code of the scene grid.
        origin: Top-left corner (x, y) in metres.
        split: ``train`` (complexes go into known_sites) or ``heldout``.
        start: Date of the first acquisition.
        interval_days: Days between acquisitions.
        background: Folder with a real L2A tile (B02...B12 + SCL COGs), for ``terrain="real"``.
    """

    name: str
    seed: int
    size_px: int = 1024
    n_dates: int = 5
    terrain: Terrain = "desert"
    n_complexes: int = 2
    n_confusers: int = 3
    cloud_fraction: float = 0.2
    with_s1: bool = False
    epsg: int = DEMO_EPSG
    origin: tuple[float, float] = DEMO_ORIGIN
    split: Literal["train", "heldout"] = "train"
    start: date = date(2024, 3, 5)
    interval_days: int = 12
    background: str | None = None

    def __post_init__(self) -> None:
        """Validate sizes, counts and the terrain."""
        if not self.name or "/" in self.name:
            raise InvalidInputError(f"scene name {self.name!r} must be non-empty without '/'")
        if self.size_px < 256 or self.size_px % 256:
            raise InvalidInputError(f"scene {self.name}: size_px {self.size_px} not k*256")
        if self.n_dates < 1 or self.interval_days < 1:
            raise InvalidInputError(f"scene {self.name}: need n_dates >= 1 and interval >= 1")
        if self.terrain not in TERRAINS:
            raise InvalidInputError(
                f"scene {self.name}: terrain {self.terrain!r} not in {TERRAINS}"
            )
        if self.terrain == "real" and not self.background:
            raise InvalidInputError(f"scene {self.name}: terrain 'real' needs a background folder")
        if self.n_complexes < 0 or self.n_confusers < 0:
            raise InvalidInputError(f"scene {self.name}: negative structure counts")
        if self.n_complexes + self.n_confusers > (self.size_px // 256) ** 2:
            raise InvalidInputError(f"scene {self.name}: too many structures for {self.size_px} px")
        if not 0.0 <= self.cloud_fraction <= 0.9:
            raise InvalidInputError(f"scene {self.name}: cloud_fraction outside [0, 0.9]")
        if self.split not in ("train", "heldout"):
            raise InvalidInputError(f"scene {self.name}: split must be train or heldout")

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(minx, miny, maxx, maxy)`` of the scene in its UTM CRS."""
        x0, y0 = self.origin
        extent = self.size_px * 10.0
        return (x0, y0 - extent, x0 + extent, y0)


def _demo(col: int, row: int, **kwargs: object) -> SceneSpec:
    x0, y0 = DEMO_ORIGIN
    origin = (x0 + col * 10240.0, y0 - row * 10240.0)
    return SceneSpec(origin=origin, **kwargs)  # type: ignore[arg-type]


#: The offline demo: a 4 x 3 grid of adjacent 1024 px scenes (each its own footprint).
#: Rows 0-1 (``demo_train``): training scenes, one or two per terrain (desert, steppe, coast,
#: forest, rocky), 23 complexes and 40 confusers (two scenes hold confusers only). Row 2
#: (``demo_heldout``): held-out scenes from seeds never used for training (new ground, layouts
#: and clouds), 10 complexes and 24 confusers.
DEMO_SCENES: tuple[SceneSpec, ...] = (
    _demo(0, 0, name="train_desert", seed=101, terrain="desert", n_complexes=4, n_confusers=4),
    _demo(1, 0, name="train_steppe", seed=102, terrain="steppe", n_complexes=4, n_confusers=4),
    _demo(2, 0, name="train_coast", seed=103, terrain="coast", n_complexes=3, n_confusers=4),
    _demo(3, 0, name="train_confusers", seed=104, terrain="desert", n_complexes=0, n_confusers=8),
    _demo(0, 1, name="train_forest", seed=105, terrain="forest", n_complexes=4, n_confusers=4),
    _demo(1, 1, name="train_rocky", seed=106, terrain="rocky", n_complexes=4, n_confusers=4),
    _demo(
        2,
        1,
        name="train_forest_confusers",
        seed=107,
        terrain="forest",
        n_confusers=8,
        n_complexes=0,
    ),
    _demo(3, 1, name="train_steppe_b", seed=108, terrain="steppe", n_complexes=4, n_confusers=4),
    _demo(
        0,
        2,
        name="heldout_rocky",
        seed=211,
        terrain="rocky",
        n_complexes=4,
        n_confusers=4,
        split="heldout",
        cloud_fraction=0.3,
    ),
    _demo(
        1,
        2,
        name="heldout_forest",
        seed=212,
        terrain="forest",
        n_complexes=3,
        n_confusers=4,
        split="heldout",
    ),
    _demo(
        2,
        2,
        name="heldout_coast",
        seed=213,
        terrain="coast",
        n_complexes=3,
        n_confusers=4,
        split="heldout",
    ),
    _demo(
        3,
        2,
        name="heldout_rocky_confusers",
        seed=214,
        terrain="rocky",
        n_complexes=0,
        n_confusers=8,
        split="heldout",
    ),
)
