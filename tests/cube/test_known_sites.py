import json
from pathlib import Path

import psycopg
import pytest
from pyproj import Geod

from cube.errors import InvalidInputError, ServiceUnavailableError
from cube.known_sites import KnownSite, buffer_sites, load_known_sites, write_known_sites

GEOD = Geod(ellps="WGS84")

# Independently remembered pad coordinates (lat, lon) of a few well-documented complexes.
REFERENCE = {
    "Baikonur Cosmodrome Site 1 (Gagarin's Start)": (45.920, 63.342),
    "Kennedy Space Center LC-39A": (28.608, -80.604),
    "Wenchang Spacecraft Launch Site": (19.61, 110.95),
    "Vandenberg SLC-4E": (34.632, -120.611),
    "Guiana Space Centre ELA-3": (5.239, -52.768),
    "Rocket Lab Launch Complex 1 (Māhia)": (-39.262, 177.865),
    "Starbase (Boca Chica)": (25.997, -97.157),
    "Vostochny Cosmodrome": (51.884, 128.334),
}

REQUIRED = [
    "Baikonur",
    "Plesetsk",
    "Vostochny",
    "Kapustin Yar",
    "Jiuquan",
    "Taiyuan",
    "Xichang",
    "Wenchang",
    "Sohae",
    "Imam Khomeini",
    "Shahroud",
    "Palmachim",
    "Satish Dhawan",
    "Tanegashima",
    "Uchinoura",
    "Naro",
    "Guiana",
    "Alcântara",
    "Kennedy",
    "Vandenberg",
    "Wallops",
    "Pacific Spaceport",
    "Starbase",
    "Māhia",
    "Woomera",
    "Esrange",
    "Andøya",
    "SaxaVord",
]


def test_packaged_sites_are_valid_and_complete():
    sites = load_known_sites()
    assert len(sites) >= 30
    assert len({s.name for s in sites}) == len(sites)
    for key in REQUIRED:
        assert any(key in s.name for s in sites), key
    assert all(s.source.startswith("Wikipedia: ") for s in sites)


def test_reference_coordinates_within_2km():
    sites = {s.name: s for s in load_known_sites()}
    for name, (lat, lon) in REFERENCE.items():
        site = sites[name]
        _, _, dist = GEOD.inv(site.lon, site.lat, lon, lat)
        assert dist < 2000, (name, dist)


def test_buffers_are_metric_circles():
    sites = load_known_sites()
    frame = buffer_sites(sites, radius_m=2000)
    assert frame.crs.to_epsg() == 4326
    assert len(frame) == len(sites)
    for row in frame.itertuples():
        area, _ = GEOD.geometry_area_perimeter(row.geometry)
        assert abs(area) / 1e6 == pytest.approx(3.1416 * 4, rel=0.01), row.name
        assert row.geometry.contains(row.point)
        # the ring is 2 km from the point in every direction, at any latitude
        lon, lat = row.geometry.exterior.coords[0]
        assert GEOD.inv(row.point.x, row.point.y, lon, lat)[2] == pytest.approx(2000, rel=0.01)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lat": 91.0}, "latitude"),
        ({"lon": -181.0}, "longitude"),
        ({"status": "retired"}, "status"),
        ({"operator": " "}, "operator"),
    ],
)
def test_known_site_validation(change: dict, message: str):
    fields = {
        "name": "x",
        "country": "c",
        "operator": "o",
        "status": "active",
        "lon": 1.0,
        "lat": 2.0,
        "source": "s",
    }
    with pytest.raises(InvalidInputError, match=message):
        KnownSite(**{**fields, **change})


def _write(path: Path, features: list) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _feature(name: str, lon: float = 1.0, lat: float = 2.0, **props) -> dict:
    base = {"name": name, "country": "c", "operator": "o", "status": "active", "source": "s"}
    return {
        "type": "Feature",
        "properties": {**base, **props},
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
    }


def test_load_rejects_bad_files(tmp_path: Path):
    with pytest.raises(InvalidInputError, match="duplicate"):
        load_known_sites(_write(tmp_path / "a.geojson", [_feature("x"), _feature("x")]))
    with pytest.raises(InvalidInputError, match="source"):
        load_known_sites(_write(tmp_path / "b.geojson", [_feature("x", source="")]))
    with pytest.raises(InvalidInputError, match="latitude"):
        load_known_sites(_write(tmp_path / "c.geojson", [_feature("x", lat=95.0)]))
    with pytest.raises(InvalidInputError, match="cannot read"):
        load_known_sites(tmp_path / "missing.geojson")
    with pytest.raises(InvalidInputError, match="radius"):
        buffer_sites(load_known_sites()[:1], radius_m=0)


def test_write_known_sites_upserts(pg_dsn: str):
    sites = load_known_sites()
    assert write_known_sites(pg_dsn, sites) == len(sites)
    moved = KnownSite(**{**sites[0].__dict__, "status": "inactive", "lat": sites[0].lat + 0.01})
    assert write_known_sites(pg_dsn, [moved]) == 1
    with psycopg.connect(pg_dsn) as conn:
        count = conn.execute("SELECT count(*) FROM known_sites").fetchone()[0]
        status, lat, inside, area = conn.execute(
            "SELECT status, ST_Y(geom), ST_Contains(buffer_geom, geom), "
            "ST_Area(buffer_geom::geography) / 1e6 FROM known_sites WHERE name = %s",
            (moved.name,),
        ).fetchone()
    assert count == len(sites)
    assert status == "inactive"
    assert lat == pytest.approx(moved.lat)
    assert inside
    assert area == pytest.approx(3.1416 * 4, rel=0.01)


def test_write_known_sites_unreachable_db():
    with pytest.raises(ServiceUnavailableError):
        write_known_sites(
            "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2", load_known_sites()[:1]
        )
