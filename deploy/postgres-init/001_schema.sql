-- launchwatch schema: the single source of truth for PostGIS tables.
-- Mounted by docker compose into /docker-entrypoint-initdb.d and applied by the embedded
-- service manager (python -m deploy.local up) on first start. Idempotent.
-- Every geometry is EPSG:4326 with a GIST index; CHECK constraints reject bad rows.

CREATE EXTENSION IF NOT EXISTS postgis;

CREATE TABLE IF NOT EXISTS known_sites (
    id           SERIAL PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    country      TEXT NOT NULL,
    operator     TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'active'
                 CHECK (status IN ('active', 'inactive', 'under_construction', 'planned')),
    source       TEXT NOT NULL,
    geom         geometry(Point, 4326) NOT NULL CHECK (ST_IsValid(geom)),
    buffer_geom  geometry(Polygon, 4326) NOT NULL CHECK (ST_IsValid(buffer_geom))
);
CREATE INDEX IF NOT EXISTS known_sites_geom_gist ON known_sites USING GIST (geom);
CREATE INDEX IF NOT EXISTS known_sites_buffer_gist ON known_sites USING GIST (buffer_geom);

CREATE TABLE IF NOT EXISTS detections (
    id             BIGSERIAL PRIMARY KEY,
    geom           geometry(Polygon, 4326) NOT NULL CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom)),
    centroid       geometry(Point, 4326) NOT NULL CHECK (ST_IsValid(centroid)),
    score          DOUBLE PRECISION NOT NULL CHECK (score >= 0 AND score <= 1),
    area_km2       DOUBLE PRECISION NOT NULL CHECK (area_km2 >= 0),
    compactness    DOUBLE PRECISION NOT NULL CHECK (compactness >= 0 AND compactness <= 1),
    model_version  TEXT NOT NULL,
    aoi            TEXT NOT NULL,
    detected_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    evidence       JSONB NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS detections_geom_gist ON detections USING GIST (geom);
CREATE INDEX IF NOT EXISTS detections_centroid_gist ON detections USING GIST (centroid);
CREATE INDEX IF NOT EXISTS detections_score_idx ON detections (score DESC, id);
CREATE INDEX IF NOT EXISTS detections_aoi_idx ON detections (aoi);

CREATE TABLE IF NOT EXISTS imagery_catalog (
    id               BIGSERIAL PRIMARY KEY,
    scene_id         TEXT NOT NULL UNIQUE,
    collection       TEXT NOT NULL,
    sensor           TEXT NOT NULL CHECK (sensor IN ('sentinel-2', 'sentinel-1')),
    acquired_at      TIMESTAMPTZ NOT NULL,
    bbox             geometry(Polygon, 4326) NOT NULL CHECK (ST_IsValid(bbox)),
    cloud_cover_pct  DOUBLE PRECISION CHECK (cloud_cover_pct IS NULL OR (cloud_cover_pct >= 0 AND cloud_cover_pct <= 100)),
    assets           JSONB NOT NULL DEFAULT '{}'::jsonb,
    ingested_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS imagery_catalog_bbox_gist ON imagery_catalog USING GIST (bbox);
CREATE INDEX IF NOT EXISTS imagery_catalog_acquired_idx ON imagery_catalog (acquired_at);

CREATE TABLE IF NOT EXISTS tiles (
    id                 BIGSERIAL PRIMARY KEY,
    aoi                TEXT NOT NULL,
    "row"              INTEGER NOT NULL CHECK ("row" >= 0),
    col                INTEGER NOT NULL CHECK (col >= 0),
    bbox               geometry(Polygon, 4326) NOT NULL CHECK (ST_IsValid(bbox)),
    split              TEXT NOT NULL CHECK (split IN ('train', 'val', 'test')),
    positive_fraction  DOUBLE PRECISION NOT NULL CHECK (positive_fraction >= 0 AND positive_fraction <= 1),
    zarr_path          TEXT NOT NULL,
    UNIQUE (aoi, "row", col)
);
CREATE INDEX IF NOT EXISTS tiles_bbox_gist ON tiles USING GIST (bbox);

CREATE TABLE IF NOT EXISTS reviews (
    id            BIGSERIAL PRIMARY KEY,
    detection_id  BIGINT NOT NULL REFERENCES detections (id) ON DELETE CASCADE,
    verdict       TEXT NOT NULL CHECK (verdict IN ('confirmed', 'rejected', 'unsure')),
    reason        TEXT NOT NULL,
    note          TEXT NOT NULL DEFAULT '',
    reviewer      TEXT NOT NULL DEFAULT 'analyst',
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS reviews_detection_idx ON reviews (detection_id, created_at DESC);
