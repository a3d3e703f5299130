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

-- Monitoring over time (cube.run monitor): per-epoch columns on detections, tracked sites,
-- their per-epoch observations and the change alerts raised once per site and kind.
ALTER TABLE detections ADD COLUMN IF NOT EXISTS epoch TEXT;
ALTER TABLE detections ADD COLUMN IF NOT EXISTS flags TEXT[];
ALTER TABLE detections ADD COLUMN IF NOT EXISTS novelty TEXT
    CHECK (novelty IS NULL OR novelty IN ('known', 'novel'));
ALTER TABLE detections ADD COLUMN IF NOT EXISTS known_site_id INTEGER
    REFERENCES known_sites (id) ON DELETE SET NULL;
CREATE INDEX IF NOT EXISTS detections_epoch_idx ON detections (aoi, epoch);

CREATE TABLE IF NOT EXISTS sites (
    id             BIGSERIAL PRIMARY KEY,
    site_key       TEXT NOT NULL UNIQUE,
    aoi            TEXT NOT NULL,
    geom           geometry(Polygon, 4326) NOT NULL CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom)),
    centroid       geometry(Point, 4326) NOT NULL CHECK (ST_IsValid(centroid)),
    status         TEXT NOT NULL DEFAULT 'candidate'
                   CHECK (status IN ('candidate', 'persistent', 'confirmed', 'rejected', 'inactive')),
    novelty        TEXT NOT NULL CHECK (novelty IN ('known', 'novel')),
    known_site_id  INTEGER REFERENCES known_sites (id) ON DELETE SET NULL,
    first_seen     TEXT NOT NULL,
    last_seen      TEXT NOT NULL,
    n_epochs       INTEGER NOT NULL CHECK (n_epochs >= 1),
    best_score     DOUBLE PRECISION NOT NULL CHECK (best_score >= 0 AND best_score <= 1),
    flags          TEXT[] NOT NULL DEFAULT '{}',
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS sites_geom_gist ON sites USING GIST (geom);
CREATE INDEX IF NOT EXISTS sites_centroid_gist ON sites USING GIST (centroid);
CREATE INDEX IF NOT EXISTS sites_status_idx ON sites (aoi, status);

CREATE TABLE IF NOT EXISTS site_observations (
    id            BIGSERIAL PRIMARY KEY,
    site_id       BIGINT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    epoch         TEXT NOT NULL,
    epoch_start   DATE NOT NULL,
    epoch_end     DATE NOT NULL CHECK (epoch_end >= epoch_start),
    score         DOUBLE PRECISION NOT NULL CHECK (score >= 0 AND score <= 1),
    clear_looks   DOUBLE PRECISION CHECK (clear_looks IS NULL OR clear_looks >= 0),
    detection_id  BIGINT REFERENCES detections (id) ON DELETE SET NULL,
    geom          geometry(Polygon, 4326) NOT NULL CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom)),
    flags         TEXT[] NOT NULL DEFAULT '{}',
    UNIQUE (site_id, epoch)
);
CREATE INDEX IF NOT EXISTS site_observations_geom_gist ON site_observations USING GIST (geom);
CREATE INDEX IF NOT EXISTS site_observations_site_idx ON site_observations (site_id, epoch_start);

CREATE TABLE IF NOT EXISTS alerts (
    id              BIGSERIAL PRIMARY KEY,
    site_id         BIGINT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('new_construction', 'decommissioned')),
    epoch           TEXT NOT NULL,
    previous_epoch  TEXT,
    score           DOUBLE PRECISION NOT NULL CHECK (score >= 0 AND score <= 1),
    clear_looks     DOUBLE PRECISION CHECK (clear_looks IS NULL OR clear_looks >= 0),
    geom            geometry(Polygon, 4326) NOT NULL CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom)),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (site_id, kind)
);
CREATE INDEX IF NOT EXISTS alerts_geom_gist ON alerts USING GIST (geom);
CREATE INDEX IF NOT EXISTS alerts_created_idx ON alerts (created_at DESC, id);
