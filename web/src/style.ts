/** MapLibre style pieces: score → colour/radius expressions, sources and layers. */
import type {
  ExpressionSpecification,
  FilterSpecification,
  LayerSpecification,
  RasterSourceSpecification,
  StyleSpecification,
} from 'maplibre-gl';
import type { FeatureCollection, Point } from 'geojson';
import type { DetectionSummary } from './api';
import type { CompositeMode } from './state';

export const BACKGROUND = '#0b0e13';
/** Score stops of the detection colour ramp: gray → amber → red (0.9 and above). */
export const SCORE_COLORS: readonly [number, string][] = [
  [0, '#8a8f98'],
  [0.5, '#f5a623'],
  [0.9, '#e5322d'],
];
export const RADIUS_RANGE: readonly [number, number] = [4, 12];
export const SITE_COLOR = '#22d3ee';
/** Diameter (px) of the SDF circle icon used for detection markers. */
export const MARKER_PX = 24;
/** Zoom from which detection polygons are drawn. */
export const POLYGON_MINZOOM = 12;
/**
 * Zoom from which markers come from the vector tiles; below it, small polygons collapse in
 * `ST_AsMVT`, so markers come from the centroids of the best detections (`detection-points`).
 */
export const TILE_MARKER_MINZOOM = 8;

export const DETECTION_LAYERS = ['detections', 'detections-fill', 'detections-outline', 'detections-overview', 'detections-heat'] as const;
/** Layers a click on opens the evidence panel. */
export const CLICKABLE_LAYERS = ['detections', 'detections-fill', 'detections-overview'] as const;

/** Colour by score, gray → amber → red. */
export function scoreColor(): ExpressionSpecification {
  return ['interpolate', ['linear'], ['get', 'score'], ...SCORE_COLORS.flat()] as ExpressionSpecification;
}

/** Circle radius in px by score, 4 px at 0 → 12 px at 1. */
export function scoreRadius(): ExpressionSpecification {
  return ['interpolate', ['linear'], ['get', 'score'], 0, RADIUS_RANGE[0], 1, RADIUS_RANGE[1]];
}

/** `icon-size` of the SDF marker so that its radius follows {@link scoreRadius}. */
export function scoreIconSize(): ExpressionSpecification {
  return ['interpolate', ['linear'], ['get', 'score'], 0, (2 * RADIUS_RANGE[0]) / MARKER_PX, 1, (2 * RADIUS_RANGE[1]) / MARKER_PX];
}

/** Reference implementation of the colour ramp in JS (list swatches, legend). */
export function colorForScore(score: number): string {
  const s = Math.min(1, Math.max(0, score));
  for (let i = 1; i < SCORE_COLORS.length; i++) {
    const [s0, c0] = SCORE_COLORS[i - 1];
    const [s1, c1] = SCORE_COLORS[i];
    if (s <= s1) return mixHex(c0, c1, (s - s0) / (s1 - s0));
  }
  return SCORE_COLORS[SCORE_COLORS.length - 1][1];
}

/** Reference implementation of the radius ramp in JS. */
export function radiusForScore(score: number): number {
  const s = Math.min(1, Math.max(0, score));
  return RADIUS_RANGE[0] + s * (RADIUS_RANGE[1] - RADIUS_RANGE[0]);
}

function mixHex(a: string, b: string, t: number): string {
  const pa = [1, 3, 5].map((i) => parseInt(a.slice(i, i + 2), 16));
  const pb = [1, 3, 5].map((i) => parseInt(b.slice(i, i + 2), 16));
  return '#' + pa.map((v, i) => Math.round(v + (pb[i] - v) * t).toString(16).padStart(2, '0')).join('');
}

/** Detection filter: score ≥ minScore, optional AOI and model version. */
export function detectionFilter(minScore: number, aoi: string | null, model: string | null): FilterSpecification {
  const conds: ExpressionSpecification[] = [['>=', ['to-number', ['get', 'score']], minScore]];
  if (aoi) conds.push(['==', ['get', 'aoi'], aoi]);
  if (model) conds.push(['==', ['get', 'model_version'], model]);
  return ['all', ...conds] as FilterSpecification;
}

/** TiTiler XYZ raster source of one AOI layer (relative to `origin`). */
export function rasterSource(origin: string, aoi: string, layer: 'composite' | 'probability', mode: CompositeMode = 'false'): RasterSourceSpecification {
  const q = new URLSearchParams({ aoi, layer });
  if (layer === 'composite') {
    for (const b of mode === 'false' ? ['6', '4', '3'] : ['3', '2', '1']) q.append('bidx', b);
    q.set('rescale', '0,3000');
  } else {
    q.set('rescale', '0,1');
    q.set('colormap_name', 'inferno');
  }
  return {
    type: 'raster',
    tiles: [`${origin}/raster/tiles/WebMercatorQuad/{z}/{x}/{y}.png?${q.toString()}`],
    tileSize: 256,
    maxzoom: 18,
  };
}

/** The base style: dark background, the API's vector tiles, detection and known-site layers. */
export function buildStyle(origin: string): StyleSpecification {
  const det = { source: 'launchwatch', 'source-layer': 'detections' } as const;
  const layers: LayerSpecification[] = [
    { id: 'background', type: 'background', paint: { 'background-color': BACKGROUND } },
    {
      id: 'detections-heat',
      type: 'heatmap',
      source: 'detection-points',
      layout: { visibility: 'none' },
      paint: {
        'heatmap-weight': ['interpolate', ['linear'], ['get', 'score'], 0, 0, 1, 1],
        'heatmap-radius': ['interpolate', ['linear'], ['zoom'], 4, 12, 14, 40],
        'heatmap-opacity': 0.85,
        'heatmap-color': [
          'interpolate', ['linear'], ['heatmap-density'],
          0, 'rgba(40,0,80,0)', 0.2, '#3b0f70', 0.5, '#8c2981', 0.8, '#c77dff', 1, '#f3e8ff',
        ],
      },
    },
    {
      id: 'detections-fill',
      type: 'fill',
      ...det,
      minzoom: POLYGON_MINZOOM,
      paint: { 'fill-color': scoreColor(), 'fill-opacity': 0.25 },
    },
    {
      id: 'detections-outline',
      type: 'line',
      ...det,
      minzoom: POLYGON_MINZOOM,
      paint: { 'line-color': scoreColor(), 'line-width': 2 },
    },
    {
      id: 'detections-overview',
      type: 'circle',
      source: 'detection-points',
      maxzoom: TILE_MARKER_MINZOOM,
      layout: { 'circle-sort-key': ['get', 'score'] },
      paint: { 'circle-radius': scoreRadius(), 'circle-color': scoreColor(), 'circle-stroke-color': BACKGROUND, 'circle-stroke-width': 1.5 },
    },
    {
      id: 'detections',
      type: 'symbol',
      ...det,
      minzoom: TILE_MARKER_MINZOOM,
      layout: {
        'icon-image': 'marker',
        'icon-size': scoreIconSize(),
        'icon-allow-overlap': true,
        'icon-ignore-placement': true,
        'symbol-sort-key': ['get', 'score'],
      },
      paint: { 'icon-color': scoreColor(), 'icon-halo-color': '#0b0e13', 'icon-halo-width': 1.5, 'icon-opacity': 0.95 },
    },
    {
      id: 'detections-selected',
      type: 'line',
      ...det,
      filter: ['==', ['id'], -1],
      paint: { 'line-color': '#ffffff', 'line-width': 3 },
    },
    {
      id: 'known-sites',
      type: 'circle',
      source: 'known-sites',
      paint: {
        'circle-radius': 6,
        'circle-color': 'rgba(34,211,238,0.25)',
        'circle-stroke-color': SITE_COLOR,
        'circle-stroke-width': 2,
      },
    },
  ];
  return {
    version: 8,
    sources: {
      launchwatch: { type: 'vector', tiles: [`${origin}/tiles/{z}/{x}/{y}.pbf`], minzoom: TILE_MARKER_MINZOOM, maxzoom: 14 },
      'known-sites': { type: 'geojson', data: { type: 'FeatureCollection', features: [] } },
      'detection-points': { type: 'geojson', data: { type: 'FeatureCollection', features: [] } },
    },
    layers,
  };
}

/** An SDF circle (white disc, soft edge) of {@link MARKER_PX} px for `icon-color` tinting. */
export function circleSdf(size = MARKER_PX): { width: number; height: number; data: Uint8Array } {
  const data = new Uint8Array(size * size * 4);
  const r = size / 2;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const d = Math.hypot(x + 0.5 - r, y + 0.5 - r);
      // SDF convention: 0.75 (192) at the edge, rising inside.
      const v = Math.max(0, Math.min(255, Math.round(192 + (r - 1 - d) * 24)));
      data.set([255, 255, 255, v], (y * size + x) * 4);
    }
  }
  return { width: size, height: size, data };
}

/** Centroid points of detections (overview markers and density), properties as in the tiles. */
export function detectionPoints(detections: readonly DetectionSummary[]): FeatureCollection<Point> {
  return {
    type: 'FeatureCollection',
    features: detections.map((d) => ({
      type: 'Feature',
      id: d.id,
      geometry: { type: 'Point', coordinates: d.centroid },
      properties: { id: d.id, score: d.score, aoi: d.aoi, model_version: d.model_version },
    })),
  };
}
