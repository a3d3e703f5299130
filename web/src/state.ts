/** View and filter state, kept in the URL hash (`#map=z/lat/lon&score=0.5&aoi=demo&...`). */

export type CompositeMode = 'true' | 'false';

export interface LayerToggles {
  composite: boolean;
  probability: boolean;
  heat: boolean;
  sites: boolean;
}

export interface AppState {
  view: { zoom: number; lat: number; lon: number } | null;
  minScore: number;
  aoi: string | null;
  model: string | null;
  layers: LayerToggles;
  compositeMode: CompositeMode;
  compositeOpacity: number;
  probabilityOpacity: number;
  selected: number | null;
}

export const DEFAULT_STATE: AppState = Object.freeze({
  view: null,
  minScore: 0.3,
  aoi: null,
  model: null,
  layers: Object.freeze({ composite: true, probability: false, heat: false, sites: true }),
  compositeMode: 'false',
  compositeOpacity: 0.8,
  probabilityOpacity: 0.6,
  selected: null,
}) as AppState;

const LAYER_KEYS: (keyof LayerToggles)[] = ['composite', 'probability', 'heat', 'sites'];

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

function unit(raw: string | null, fallback: number): number {
  if (raw === null || raw.trim() === '') return fallback;
  const v = Number(raw);
  return Number.isFinite(v) ? clamp(v, 0, 1) : fallback;
}

/** Parse a location hash (with or without `#`); unknown or malformed values fall back to defaults. */
export function parseHash(hash: string): AppState {
  const p = new URLSearchParams(hash.replace(/^#/, ''));
  let view: AppState['view'] = null;
  const m = p.get('map')?.split('/').map(Number);
  if (m && m.length === 3 && m.every(Number.isFinite) && Math.abs(m[1]) <= 90 && Math.abs(m[2]) <= 180) {
    view = { zoom: clamp(m[0], 0, 22), lat: m[1], lon: m[2] };
  }
  const layersRaw = p.get('layers');
  const on = layersRaw === null ? null : new Set(layersRaw.split(',').filter(Boolean));
  const layers = Object.fromEntries(LAYER_KEYS.map((k) => [k, on ? on.has(k) : DEFAULT_STATE.layers[k]])) as unknown as LayerToggles;
  const sel = Number(p.get('sel'));
  return {
    view,
    minScore: unit(p.get('score'), DEFAULT_STATE.minScore),
    aoi: p.get('aoi') || null,
    model: p.get('model') || null,
    layers,
    compositeMode: p.get('rgb') === 'true' ? 'true' : 'false',
    compositeOpacity: unit(p.get('co'), DEFAULT_STATE.compositeOpacity),
    probabilityOpacity: unit(p.get('po'), DEFAULT_STATE.probabilityOpacity),
    selected: Number.isSafeInteger(sel) && sel > 0 ? sel : null,
  };
}

/** Format state as a hash (`#...`); the view is rounded to what the zoom can show. */
export function formatHash(s: AppState): string {
  const p = new URLSearchParams();
  if (s.view) {
    const digits = Math.max(0, Math.ceil(Math.log10(2 ** s.view.zoom / 180) + 2));
    p.set('map', `${s.view.zoom.toFixed(2)}/${s.view.lat.toFixed(digits)}/${s.view.lon.toFixed(digits)}`);
  }
  p.set('score', s.minScore.toFixed(2));
  if (s.aoi) p.set('aoi', s.aoi);
  if (s.model) p.set('model', s.model);
  p.set('layers', LAYER_KEYS.filter((k) => s.layers[k]).join(','));
  p.set('rgb', s.compositeMode);
  p.set('co', s.compositeOpacity.toFixed(2));
  p.set('po', s.probabilityOpacity.toFixed(2));
  if (s.selected !== null) p.set('sel', String(s.selected));
  return '#' + p.toString().replace(/%2F/g, '/').replace(/%2C/g, ',');
}
