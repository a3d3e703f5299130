/** Typed client of the launchwatch API (same origin; relative URLs). */
import type { FeatureCollection } from 'geojson';

export type Bounds = [number, number, number, number];

export interface Aoi {
  name: string;
  bounds: Bounds | null;
  layers: string[];
}

export interface Review {
  id: number;
  verdict: 'confirmed' | 'rejected' | 'unsure';
  reason: string;
  note: string;
  reviewer: string;
  created_at: string;
}

export interface DetectionSummary {
  id: number;
  score: number;
  area_km2: number;
  compactness: number;
  model_version: string;
  aoi: string;
  detected_at: string;
  centroid: [number, number];
}

export interface DetectionPage {
  detections: DetectionSummary[];
  total: number;
}

export interface Evidence {
  id: number;
  score: number;
  area_km2: number;
  compactness: number;
  model_version: string;
  aoi: string;
  detected_at: string;
  centroid: [number, number];
  provenance: Record<string, unknown>;
  reviews: Review[];
  thumbnail_url: string;
}

export interface DetectionQuery {
  bbox?: Bounds;
  minScore?: number;
  aoi?: string;
  modelVersion?: string;
  limit?: number;
  offset?: number;
}

export type ReviewVerdict = Review['verdict'];

/** `/alerts` item: a change alert of a tracked site. */
export interface Alert {
  id: number;
  siteId: number;
  kind: 'new_construction' | 'decommissioned';
  epoch: string;
  previousEpoch: string | null;
  score: number;
  aoi: string;
  createdAt: string;
  centroid: [number, number];
}

/** One epoch of a site's timeline. */
export interface SiteObservation {
  epoch: string;
  score: number;
  clearLooks: number | null;
  flags: string[];
  thumbnailUrl: string | null;
}

/** `/sites/{id}`: a site tracked over epochs. */
export interface SiteTimeline {
  id: number;
  status: string;
  novelty: string;
  knownSite: string | null;
  firstSeen: string;
  lastSeen: string;
  bestScore: number;
  centroid: [number, number];
  timeline: SiteObservation[];
}

/** `/basemap`: whether the server reached the online basemap, and its tiles. */
export interface Basemap {
  online: boolean;
  tiles: string[];
  attribution: string;
}

/** An API answer that was not 2xx (status and the API's detail message). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(o: Json, key: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new TypeError(`field ${key} is not a number: ${String(v)}`);
  return v;
}

function str(o: Json, key: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw new TypeError(`field ${key} is not a string: ${String(v)}`);
  return v;
}

/** Mean of the outer-ring vertices (closing vertex dropped) of a (Multi)Polygon or a Point. */
export function centroidOf(geometry: unknown): [number, number] {
  if (!isObject(geometry)) throw new TypeError('geometry is not an object');
  const coords = geometry.coordinates as unknown;
  let ring: number[][];
  switch (geometry.type) {
    case 'Point':
      return [(coords as number[])[0], (coords as number[])[1]];
    case 'Polygon':
      ring = (coords as number[][][])[0];
      break;
    case 'MultiPolygon':
      ring = (coords as number[][][][])[0][0];
      break;
    default:
      throw new TypeError(`unsupported geometry type ${String(geometry.type)}`);
  }
  const pts = ring.length > 1 && ring[0][0] === ring.at(-1)![0] && ring[0][1] === ring.at(-1)![1] ? ring.slice(0, -1) : ring;
  const sx = pts.reduce((s, p) => s + p[0], 0);
  const sy = pts.reduce((s, p) => s + p[1], 0);
  return [sx / pts.length, sy / pts.length];
}

function parseReview(v: unknown): Review {
  if (!isObject(v)) throw new TypeError('review is not an object');
  const verdict = str(v, 'verdict');
  if (verdict !== 'confirmed' && verdict !== 'rejected' && verdict !== 'unsure') throw new TypeError(`unknown verdict ${verdict}`);
  return {
    id: num(v, 'id'),
    verdict,
    reason: str(v, 'reason'),
    note: typeof v.note === 'string' ? v.note : '',
    reviewer: typeof v.reviewer === 'string' ? v.reviewer : 'analyst',
    created_at: str(v, 'created_at'),
  };
}

/** `/detections` FeatureCollection → summaries (centroids computed here). */
export function parseDetectionPage(body: unknown): DetectionPage {
  if (!isObject(body) || body.type !== 'FeatureCollection' || !Array.isArray(body.features)) {
    throw new TypeError('detections answer is not a FeatureCollection');
  }
  const detections = body.features.map((f: unknown): DetectionSummary => {
    if (!isObject(f) || !isObject(f.properties)) throw new TypeError('detection feature has no properties');
    const p = f.properties;
    return {
      id: num(p, 'id'),
      score: num(p, 'score'),
      area_km2: num(p, 'area_km2'),
      compactness: num(p, 'compactness'),
      model_version: str(p, 'model_version'),
      aoi: str(p, 'aoi'),
      detected_at: str(p, 'detected_at'),
      centroid: centroidOf(f.geometry),
    };
  });
  return { detections, total: typeof body.total === 'number' ? body.total : detections.length };
}

/** `/evidence/{id}` → Evidence. */
export function parseEvidence(body: unknown): Evidence {
  if (!isObject(body)) throw new TypeError('evidence answer is not an object');
  return {
    id: num(body, 'id'),
    score: num(body, 'score'),
    area_km2: num(body, 'area_km2'),
    compactness: num(body, 'compactness'),
    model_version: str(body, 'model_version'),
    aoi: str(body, 'aoi'),
    detected_at: str(body, 'detected_at'),
    centroid: centroidOf(body.geometry),
    provenance: isObject(body.evidence) ? body.evidence : {},
    reviews: Array.isArray(body.reviews) ? body.reviews.map(parseReview) : [],
    thumbnail_url: str(body, 'thumbnail_url'),
  };
}

/** `/aois` → AOIs (bounds validated as four finite numbers or null). */
export function parseAois(body: unknown): Aoi[] {
  if (!Array.isArray(body)) throw new TypeError('aois answer is not a list');
  return body.map((a: unknown): Aoi => {
    if (!isObject(a)) throw new TypeError('aoi is not an object');
    const b = a.bounds;
    const bounds = Array.isArray(b) && b.length === 4 && b.every((x) => typeof x === 'number' && Number.isFinite(x)) ? (b as Bounds) : null;
    return { name: str(a, 'name'), bounds, layers: Array.isArray(a.layers) ? a.layers.filter((l): l is string => typeof l === 'string') : [] };
  });
}

/** `/alerts` → alerts (newest first as the API orders them). */
export function parseAlerts(body: unknown): Alert[] {
  if (!isObject(body) || !Array.isArray(body.features)) throw new TypeError('alerts answer is not a FeatureCollection');
  return body.features.map((f: unknown): Alert => {
    if (!isObject(f) || !isObject(f.properties)) throw new TypeError('alert is not a Feature');
    const p = f.properties;
    const kind = str(p, 'kind');
    if (kind !== 'new_construction' && kind !== 'decommissioned') throw new TypeError(`unknown alert kind ${kind}`);
    return {
      id: num(p, 'id'),
      siteId: num(p, 'site_id'),
      kind,
      epoch: str(p, 'epoch'),
      previousEpoch: typeof p.previous_epoch === 'string' ? p.previous_epoch : null,
      score: num(p, 'score'),
      aoi: str(p, 'aoi'),
      createdAt: str(p, 'created_at'),
      centroid: centroidOf(f.geometry),
    };
  });
}

/** `/sites/{id}` → the site and its per-epoch timeline. */
export function parseSite(body: unknown): SiteTimeline {
  if (!isObject(body) || !isObject(body.properties)) throw new TypeError('site is not a Feature');
  const p = body.properties;
  const timeline = Array.isArray(body.timeline) ? body.timeline : [];
  return {
    id: num(p, 'id'),
    status: str(p, 'status'),
    novelty: str(p, 'novelty'),
    knownSite: typeof p.known_site === 'string' ? p.known_site : null,
    firstSeen: str(p, 'first_seen'),
    lastSeen: str(p, 'last_seen'),
    bestScore: num(p, 'best_score'),
    centroid: centroidOf(body.geometry),
    timeline: timeline.map((o: unknown): SiteObservation => {
      if (!isObject(o)) throw new TypeError('observation is not an object');
      return {
        epoch: str(o, 'epoch'),
        score: num(o, 'score'),
        clearLooks: typeof o.clear_looks === 'number' ? o.clear_looks : null,
        flags: Array.isArray(o.flags) ? o.flags.filter((x): x is string => typeof x === 'string') : [],
        thumbnailUrl: typeof o.thumbnail_url === 'string' ? o.thumbnail_url : null,
      };
    }),
  };
}

/** Query string of `/alerts` ("new since" a day, as UTC midnight). */
export function alertsUrl(since?: string): string {
  const params = new URLSearchParams({ limit: '100' });
  if (since && /^\d{4}-\d{2}-\d{2}$/.test(since)) params.set('since', `${since}T00:00:00Z`);
  return `/alerts?${params.toString()}`;
}

/** `/basemap` → Basemap (offline when the answer is malformed). */
export function parseBasemap(body: unknown): Basemap {
  if (!isObject(body) || body.online !== true || !Array.isArray(body.tiles)) return { online: false, tiles: [], attribution: '' };
  const tiles = body.tiles.filter((t): t is string => typeof t === 'string' && t.startsWith('https://'));
  return { online: tiles.length > 0, tiles, attribution: typeof body.attribution === 'string' ? body.attribution : '' };
}

/** Query string of `/detections` for a query (keys in API spelling, bbox rounded to 1e-6°). */
export function detectionsUrl(q: DetectionQuery): string {
  const params = new URLSearchParams();
  if (q.bbox) params.set('bbox', q.bbox.map((v) => String(Math.round(v * 1e6) / 1e6)).join(','));
  if (q.minScore !== undefined && q.minScore > 0) params.set('min_score', String(q.minScore));
  if (q.aoi) params.set('aoi', q.aoi);
  if (q.modelVersion) params.set('model_version', q.modelVersion);
  params.set('limit', String(q.limit ?? 100));
  if (q.offset) params.set('offset', String(q.offset));
  return `/detections?${params.toString()}`;
}

/** Clamp a Web Mercator view's bounds to valid lon/lat (the API rejects out-of-range boxes). */
export function clampBounds([minx, miny, maxx, maxy]: Bounds): Bounds {
  const cx = (v: number) => Math.min(180, Math.max(-180, v));
  const cy = (v: number) => Math.min(90, Math.max(-90, v));
  return [cx(minx), cy(miny), cx(maxx), cy(maxy)];
}

async function detail(res: Response): Promise<string> {
  try {
    const body: unknown = await res.json();
    if (isObject(body) && body.detail !== undefined) return typeof body.detail === 'string' ? body.detail : JSON.stringify(body.detail);
  } catch {
    /* not JSON: fall back to the status text */
  }
  return res.statusText || `HTTP ${res.status}`;
}

/** Thin client over `fetch` (injectable for tests). */
export class ApiClient {
  constructor(
    private readonly fetcher: typeof fetch = (input, init) => fetch(input, init),
    private readonly base = '',
  ) {}

  private async json(path: string, init?: RequestInit): Promise<unknown> {
    const res = await this.fetcher(this.base + path, init);
    if (!res.ok) throw new ApiError(res.status, `${path}: ${await detail(res)}`);
    return res.json();
  }

  async aois(): Promise<Aoi[]> {
    return parseAois(await this.json('/aois'));
  }

  async detections(q: DetectionQuery, signal?: AbortSignal): Promise<DetectionPage> {
    return parseDetectionPage(await this.json(detectionsUrl(q), signal ? { signal } : undefined));
  }

  async evidence(id: number): Promise<Evidence> {
    return parseEvidence(await this.json(`/evidence/${id}`));
  }

  async alerts(since?: string): Promise<Alert[]> {
    return parseAlerts(await this.json(alertsUrl(since)));
  }

  async site(id: number): Promise<SiteTimeline> {
    return parseSite(await this.json(`/sites/${id}`));
  }

  async basemap(): Promise<Basemap> {
    return parseBasemap(await this.json('/basemap'));
  }

  async knownSites(): Promise<FeatureCollection> {
    return (await this.json('/known-sites')) as FeatureCollection;
  }

  async review(id: number, token: string, verdict: ReviewVerdict, reason: string, note = ''): Promise<Review> {
    return parseReview(
      await this.json(`/detections/${id}/review`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ verdict, reason, note }),
      }),
    );
  }
}
