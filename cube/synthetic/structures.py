"""Launch complexes and confusers as material polygons in scene pixel coordinates.

Every structure is a list of ``(material id, shapely geometry)`` parts in pixel space
(x = column, y = row, 10 m pixels), burnt into the scene's material map in order, plus a truth
footprint (the convex hull of its parts, roads excluded). A launch complex is 0.6-1.5 km across:
a cleared safety zone with a gravel hardstand, one or two concrete pads each with a dark flame
trench and an apron, a tank farm, an assembly building and asphalt service roads. Confusers share
its materials (concrete, tanks, roofs, bare soil) but not its layout: quarries (terraced pits),
airports (long runways), industrial yards (building grids), farms (fields, centre pivots).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from shapely import affinity
from shapely.geometry import LineString, Point, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from cube.errors import InvalidInputError
from cube.synthetic.spectra import Material

__all__ = ["CONFUSER_KINDS", "Structure", "place_structures"]

CONFUSER_KINDS: tuple[str, ...] = ("quarry", "airport", "industrial", "farm")
_RADIUS = {"launch_complex": 65, "quarry": 50, "airport": 0, "industrial": 60, "farm": 70}


@dataclass(frozen=True)
class Structure:
    """One planted structure.

    Attributes:
        kind: ``launch_complex`` or a confuser kind.
        parts: ``(material, geometry)`` in pixel coordinates, burnt in this order.
        footprint: Truth polygon in pixel coordinates.
        anchor: Main point (x, y) in pixels: the main pad of a complex, else the centre.
    """

    kind: str
    parts: tuple[tuple[int, BaseGeometry], ...]
    footprint: Polygon
    anchor: tuple[float, float]


def _rect(cx: float, cy: float, w: float, h: float, angle: float) -> Polygon:
    return affinity.rotate(box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), angle, (cx, cy))


def _polar(cx: float, cy: float, r: float, deg: float) -> tuple[float, float]:
    rad = np.deg2rad(deg)
    return cx + r * float(np.cos(rad)), cy + r * float(np.sin(rad))


def _launch_complex(rng: np.random.Generator, cx: float, cy: float) -> Structure:
    theta = float(rng.uniform(0, 360))
    zone_r = float(rng.uniform(30, 60))
    zone = affinity.rotate(
        affinity.scale(Point(cx, cy).buffer(zone_r), 1.0, float(rng.uniform(0.7, 1.0))),
        theta,
        (cx, cy),
    )
    parts: list[tuple[int, BaseGeometry]] = [(Material.CLEARED, zone)]
    pads = [(cx, cy)]
    if rng.random() < 0.5:
        pads.append(_polar(cx, cy, float(rng.uniform(18, 26)), theta + 90))
    bld = _polar(cx, cy, float(rng.uniform(35, 55)), theta + 180 + float(rng.uniform(-30, 30)))
    far = _polar(bld[0], bld[1], float(rng.uniform(80, 160)), theta + 180)
    parts.append((Material.ASPHALT, LineString([*pads, bld, far]).buffer(0.8)))
    for px, py in pads:
        pad_r = float(rng.uniform(5, 8))
        parts.append((Material.GRAVEL, Point(px, py).buffer(pad_r * 2.0)))
        apron = _polar(px, py, pad_r + 4, theta + 180)
        parts.append((Material.CONCRETE, _rect(*apron, 10, 6, theta)))
        parts.append((Material.CONCRETE, Point(px, py).buffer(pad_r)))
        trench = _polar(px, py, pad_r + 5, theta)
        parts.append((Material.SCORCHED, _rect(*trench, 14, 2.6, theta)))
    tx, ty = _polar(cx, cy, float(rng.uniform(15, 22)), theta - 90)
    for k in range(int(rng.integers(3, 7))):
        kx, ky = _polar(tx, ty, 4.5 * k, theta)
        parts.append((Material.WHITE_TANK, Point(kx, ky).buffer(float(rng.uniform(1.5, 2.5)))))
    parts.append((Material.METAL_ROOF, _rect(*bld, 14, 8, theta)))
    hull = unary_union([g for m, g in parts if m != Material.ASPHALT]).convex_hull
    return Structure("launch_complex", tuple(parts), hull, (cx, cy))


def _quarry(rng: np.random.Generator, cx: float, cy: float) -> Structure:
    a, b = float(rng.uniform(25, 45)), float(rng.uniform(18, 35))
    theta = float(rng.uniform(0, 180))
    parts: list[tuple[int, BaseGeometry]] = []
    for k, scale in enumerate(np.linspace(1.0, 0.3, 5)):
        ring = affinity.rotate(
            affinity.scale(Point(cx, cy).buffer(1.0), a * scale, b * scale), theta, (cx, cy)
        )
        parts.append((Material.QUARRY_FLOOR if k % 2 == 0 else Material.GRAVEL, ring))
    parts.append((Material.WATER, Point(cx, cy).buffer(min(a, b) * 0.2)))
    hull = unary_union([g for _, g in parts]).convex_hull
    road = LineString([_polar(cx, cy, a, theta), _polar(cx, cy, a + 120, theta + 20)])
    parts.append((Material.ASPHALT, road.buffer(0.8)))
    return Structure("quarry", tuple(parts), hull, (cx, cy))


def _airport(rng: np.random.Generator, cx: float, cy: float, length: float) -> Structure:
    theta = float(rng.uniform(0, 180))
    side = _polar(cx, cy, 12, theta + 90)
    apron = _polar(cx, cy, 24, theta + 90)
    parts: list[tuple[int, BaseGeometry]] = [
        (Material.ASPHALT, _rect(cx, cy, length, float(rng.uniform(4, 6)), theta)),
        (Material.ASPHALT, _rect(*side, length * 0.8, 2.0, theta)),
        (Material.CONCRETE, _rect(*apron, 30, 14, theta)),
    ]
    for k in range(int(rng.integers(2, 5))):
        hx, hy = _polar(*_polar(*apron, 10, theta + 90), -15 + 9 * k, theta)
        parts.append((Material.METAL_ROOF, _rect(hx, hy, 7, 8, theta)))
    fx, fy = _polar(*apron, 22, theta)
    for k in range(2):
        parts.append((Material.WHITE_TANK, Point(fx + 5 * k, fy).buffer(2.0)))
    hull = unary_union([g for _, g in parts]).convex_hull
    return Structure("airport", tuple(parts), hull, (cx, cy))


def _industrial(rng: np.random.Generator, cx: float, cy: float) -> Structure:
    theta = float(rng.uniform(0, 90))
    w, h = float(rng.uniform(50, 90)), float(rng.uniform(40, 70))
    parts: list[tuple[int, BaseGeometry]] = [(Material.CONCRETE, _rect(cx, cy, w, h, theta))]
    nx, ny = int(rng.integers(2, 5)), int(rng.integers(2, 4))
    for i in range(nx):
        for j in range(ny):
            bx = cx - w / 2 + (i + 0.5) * w / nx
            by = cy - h / 2 + (j + 0.5) * h / ny
            bx, by = affinity.rotate(Point(bx, by), theta, (cx, cy)).coords[0]
            mat = Material.METAL_ROOF if rng.random() < 0.75 else Material.WHITE_TANK
            size = (w / nx * 0.6, h / ny * 0.6)
            geom = (
                _rect(bx, by, *size, theta)
                if mat == Material.METAL_ROOF
                else Point(bx, by).buffer(min(size) / 2)
            )
            parts.append((mat, geom))
    hull = unary_union([g for _, g in parts]).convex_hull
    road = LineString([(cx, cy), _polar(cx, cy, 150, theta + 45)])
    parts.append((Material.ASPHALT, road.buffer(1.0)))
    return Structure("industrial", tuple(parts), hull, (cx, cy))


def _farm(rng: np.random.Generator, cx: float, cy: float) -> Structure:
    parts: list[tuple[int, BaseGeometry]] = []
    if rng.random() < 0.5:
        for k in range(int(rng.integers(1, 4))):
            px, py = _polar(cx, cy, 55.0 * k, 0.0)
            r = float(rng.uniform(20, 28))
            parts.append((Material.FALLOW, Point(px - 40, py).buffer(r)))
            parts.append(
                (
                    Material.CROP,
                    Point(px - 40, py)
                    .buffer(r)
                    .intersection(
                        _rect(px - 40, py, 2 * r, 2 * r * float(rng.uniform(0.3, 1.0)), 0)
                    ),
                )
            )
    else:
        for i in range(3):
            for j in range(2):
                mat = Material.CROP if rng.random() < 0.5 else Material.FALLOW
                parts.append(
                    (
                        mat,
                        box(cx - 60 + 40 * i, cy - 40 + 40 * j, cx - 22 + 40 * i, cy - 2 + 40 * j),
                    )
                )
    parts.append((Material.METAL_ROOF, _rect(cx, cy + 40, 8, 5, 0)))
    hull = unary_union([g for _, g in parts]).convex_hull
    return Structure("farm", tuple(parts), hull, (cx, cy))


def place_structures(
    rng: np.random.Generator, size: int, water: np.ndarray, n_complexes: int, n_confusers: int
) -> tuple[Structure, ...]:
    """Place complexes and confusers on land, apart from each other and the scene edge.

    Args:
        rng: Random generator of the scene.
        size: Scene size in pixels.
        water: (size, size) bool water mask; structures avoid it.
        n_complexes: Launch complexes to place.
        n_confusers: Confusers to place, kinds cycling through :data:`CONFUSER_KINDS`.

    Returns:
        The placed structures, complexes first.

    Raises:
        InvalidInputError: Not enough dry land to place them all.
    """
    first = int(rng.integers(0, len(CONFUSER_KINDS)))
    kinds = ["launch_complex"] * n_complexes + [
        CONFUSER_KINDS[(first + i) % len(CONFUSER_KINDS)] for i in range(n_confusers)
    ]
    placed: list[Structure] = []
    centres: list[tuple[float, float, float]] = []
    runway = float(min(250, size // 2))
    for kind in kinds:
        radius = runway * 0.35 if kind == "airport" else _RADIUS[kind]
        margin = (runway / 2 if kind == "airport" else radius) + 10
        for _ in range(2000):
            cx, cy = (float(v) for v in rng.uniform(margin, size - margin, 2))
            r0, r1 = int(max(cy - radius, 0)), int(min(cy + radius, size))
            c0, c1 = int(max(cx - radius, 0)), int(min(cx + radius, size))
            if water[r0:r1, c0:c1].mean() > 0.03:  # a stream may cross, a shore may not
                continue
            if all(np.hypot(cx - x, cy - y) > radius + r + 15 for x, y, r in centres):
                break
        else:
            raise InvalidInputError(f"no room for another {kind} in a {size} px scene")
        centres.append((cx, cy, radius))
        if kind == "launch_complex":
            placed.append(_launch_complex(rng, cx, cy))
        elif kind == "quarry":
            placed.append(_quarry(rng, cx, cy))
        elif kind == "airport":
            placed.append(_airport(rng, cx, cy, float(rng.uniform(0.7, 1.0)) * runway))
        elif kind == "industrial":
            placed.append(_industrial(rng, cx, cy))
        else:
            placed.append(_farm(rng, cx, cy))
    return tuple(placed)
