/** launchwatch map: wires the API, the MapLibre map, the filters, the list and the evidence panel. */
import 'maplibre-gl/dist/maplibre-gl.css';
import './style.css';
import { AttributionControl, LngLatBounds, Map as MlMap, Marker, NavigationControl, ScaleControl, setWorkerUrl } from 'maplibre-gl';
import type { GeoJSONSource, MapGeoJSONFeature, MapLayerMouseEvent } from 'maplibre-gl';
import workerUrl from 'maplibre-gl/dist/maplibre-gl-worker.mjs?url';
import { ApiClient, clampBounds, type Aoi, type DetectionSummary } from './api';
import { byId, h } from './dom';
import { DetectionList } from './list';
import { AlertList } from './alerts';
import { EvidencePanel } from './panel';
import { formatHash, parseHash, type AppState, type LayerToggles } from './state';
import { CLICKABLE_LAYERS, DETECTION_LAYERS, buildStyle, circleSdf, detectionFilter, detectionPoints, rasterSource } from './style';

setWorkerUrl(workerUrl);

const api = new ApiClient();
const state: AppState = parseHash(location.hash);
const statusEl = byId<HTMLParagraphElement>('status');
let aois: Aoi[] = [];
let siteMarkers: Marker[] = [];

function setStatus(text: string, error = false): void {
  statusEl.textContent = text;
  statusEl.classList.toggle('error', error);
}

const map = new MlMap({
  container: 'map',
  style: buildStyle(location.origin),
  center: state.view ? [state.view.lon, state.view.lat] : [20, 25],
  zoom: state.view?.zoom ?? 2,
  attributionControl: false,
  maxPitch: 0,
  dragRotate: false,
  pitchWithRotate: false,
});
map.touchZoomRotate.disableRotation();
map.keyboard.disableRotation();
map.addControl(new NavigationControl({ showCompass: false }), 'top-left');
map.addControl(new ScaleControl({ unit: 'metric' }), 'bottom-left');
map.addControl(new AttributionControl({ compact: true, customAttribution: 'launchwatch · Copernicus Sentinel data' }));

function writeHash(): void {
  const c = map.getCenter();
  state.view = { zoom: map.getZoom(), lat: c.lat, lon: c.lng };
  history.replaceState(null, '', formatHash(state));
}

// --- detection filters --------------------------------------------------------------------
function applyFilters(): void {
  const filter = detectionFilter(state.minScore, state.aoi, state.model);
  for (const id of DETECTION_LAYERS) map.setFilter(id, filter);
  writeHash();
  scheduleListRefresh();
}

// --- layers -------------------------------------------------------------------------------
function rasterLayerIds(kind: 'composite' | 'probability'): string[] {
  return aois.filter((a) => a.layers.includes(kind)).map((a) => `${kind}-${a.name}`);
}

function setRasters(): void {
  for (const kind of ['composite', 'probability'] as const) {
    for (const a of aois.filter((x) => x.layers.includes(kind) && x.bounds)) {
      const id = `${kind}-${a.name}`;
      if (map.getLayer(id)) map.removeLayer(id);
      if (map.getSource(id)) map.removeSource(id);
      map.addSource(id, { ...rasterSource(location.origin, a.name, kind, state.compositeMode), bounds: a.bounds! });
      map.addLayer(
        {
          id,
          type: 'raster',
          source: id,
          layout: { visibility: state.layers[kind] ? 'visible' : 'none' },
          paint: { 'raster-opacity': kind === 'composite' ? state.compositeOpacity : state.probabilityOpacity },
        },
        'detections-heat',
      );
    }
  }
}

function setVisibility(key: keyof LayerToggles, on: boolean): void {
  state.layers[key] = on;
  const ids = key === 'heat' ? ['detections-heat'] : key === 'sites' ? ['known-sites'] : rasterLayerIds(key);
  for (const id of ids) if (map.getLayer(id)) map.setLayoutProperty(id, 'visibility', on ? 'visible' : 'none');
  if (key === 'sites') for (const m of siteMarkers) m.getElement().hidden = !on;
  writeHash();
}

function setOpacity(kind: 'composite' | 'probability', value: number): void {
  if (kind === 'composite') state.compositeOpacity = value;
  else state.probabilityOpacity = value;
  for (const id of rasterLayerIds(kind)) if (map.getLayer(id)) map.setPaintProperty(id, 'raster-opacity', value);
  writeHash();
}

// --- list of detections in view -----------------------------------------------------------
const list = new DetectionList((d) => pick(d.id, d.centroid));
let listTimer = 0;
let listAbort: AbortController | null = null;

function scheduleListRefresh(): void {
  window.clearTimeout(listTimer);
  listTimer = window.setTimeout(() => void refreshList(), 250);
}

async function refreshList(): Promise<void> {
  listAbort?.abort();
  const ctrl = new AbortController();
  listAbort = ctrl;
  const b = map.getBounds();
  try {
    const page = await api.detections(
      { bbox: clampBounds([b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]), minScore: state.minScore, aoi: state.aoi ?? undefined, modelVersion: state.model ?? undefined, limit: 100 },
      ctrl.signal,
    );
    list.show(page.detections, page.total);
    list.select(state.selected);
    setStatus(`${page.total} detection${page.total === 1 ? '' : 's'} in view (score ≥ ${state.minScore.toFixed(2)})`);
  } catch (err) {
    if ((err as Error).name === 'AbortError') return;
    list.error(`Could not load detections: ${(err as Error).message}`);
    setStatus('API unreachable — showing what is cached', true);
  }
}

// --- selection and panel ------------------------------------------------------------------
const panel = new EvidencePanel(api, () => select(null));

function select(id: number | null): void {
  state.selected = id;
  map.setFilter('detections-selected', ['==', ['id'], id ?? -1]);
  list.select(id);
  writeHash();
}

function pick(id: number, center?: [number, number]): void {
  select(id);
  void panel.open(id);
  if (center) map.flyTo({ center, zoom: Math.max(map.getZoom(), 14), essential: true });
}

const alerts = new AlertList(api, (a) => {
  select(null);
  void panel.openSite(a.siteId);
  map.flyTo({ center: a.centroid, zoom: Math.max(map.getZoom(), 13), essential: true });
});

function onDetectionClick(e: MapLayerMouseEvent): void {
  const f: MapGeoJSONFeature | undefined = e.features?.[0];
  const id = Number(f?.id ?? f?.properties?.id); // ST_AsMVT moves `id` to the feature id
  if (!Number.isSafeInteger(id)) return;
  if (f?.layer.id === 'detections-overview' && f.geometry.type === 'Point') pick(id, f.geometry.coordinates as [number, number]);
  else pick(id);
}

// --- AOIs, known sites, model versions -----------------------------------------------------
function flyToAoi(name: string | null): void {
  const a = aois.find((x) => x.name === name) ?? (aois.length === 1 ? aois[0] : undefined);
  if (a?.bounds) map.fitBounds(a.bounds, { padding: 40, maxZoom: 15 });
}

function fitTo(detections: DetectionSummary[]): boolean {
  if (!detections.length) return false;
  const bounds = new LngLatBounds();
  for (const d of detections) bounds.extend(d.centroid);
  map.fitBounds(bounds, { padding: 80, maxZoom: 14, duration: 0 });
  return true;
}

async function loadKnownSites(): Promise<void> {
  const fc = await api.knownSites();
  (map.getSource('known-sites') as GeoJSONSource).setData(fc);
  for (const m of siteMarkers) m.remove();
  siteMarkers = fc.features.flatMap((f) => {
    if (f.geometry.type !== 'Point') return [];
    const p = f.properties ?? {};
    const el = h('div', { class: 'site-label' }, `${String(p.name)} (${String(p.country)})`);
    el.hidden = !state.layers.sites;
    return [new Marker({ element: el, anchor: 'bottom' }).setLngLat(f.geometry.coordinates as [number, number]).addTo(map)];
  });
}

function fillSelect(sel: HTMLSelectElement, values: string[], current: string | null): void {
  const first = sel.options[0];
  sel.replaceChildren(first, ...values.map((v) => h('option', { value: v }, v)));
  sel.value = current && values.includes(current) ? current : '';
}

async function init(): Promise<void> {
  map.addImage('marker', circleSdf(), { sdf: true, pixelRatio: 1 });
  for (const id of CLICKABLE_LAYERS) {
    map.on('click', id, onDetectionClick);
    map.on('mouseenter', id, () => (map.getCanvas().style.cursor = 'pointer'));
    map.on('mouseleave', id, () => (map.getCanvas().style.cursor = ''));
  }
  const [aoiRes, sitesRes, topRes] = await Promise.allSettled([api.aois(), loadKnownSites(), api.detections({ limit: 1000 })]);
  void alerts.load();
  if (aoiRes.status === 'fulfilled') aois = aoiRes.value;
  fillSelect(byId('aoi'), aois.map((a) => a.name), state.aoi);
  setRasters();
  const top = topRes.status === 'fulfilled' ? topRes.value.detections : [];
  (map.getSource('detection-points') as GeoJSONSource).setData(detectionPoints(top));
  fillSelect(byId('model'), [...new Set(top.map((d) => d.model_version))].sort(), state.model);
  if (!state.view) {
    if (state.aoi) flyToAoi(state.aoi);
    else if (!fitTo(top)) flyToAoi(null);
  }
  applyFilters();
  if (state.selected !== null) pick(state.selected);
  const failed = [aoiRes, sitesRes, topRes].filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
  if (failed.length) setStatus(`Some data failed to load: ${failed.map((r) => (r.reason as Error).message).join('; ')}`, true);
  // The server probes the online basemap (a browser probe would log a network error offline).
  void api
    .basemap()
    .catch(() => ({ online: false, tiles: [], attribution: '' }))
    .then((bm) => {
      if (!bm.online) return;
      map.addSource('carto', { type: 'raster', tiles: bm.tiles, tileSize: 256, maxzoom: 19, attribution: bm.attribution });
      const above = map.getStyle().layers.find((l) => l.id !== 'background')?.id;
      map.addLayer({ id: 'basemap', type: 'raster', source: 'carto', paint: { 'raster-opacity': 0.9 } }, above);
    });
  map.once('idle', () => {
    (window as unknown as { mapReady: boolean }).mapReady = true;
  });
}

// --- controls -----------------------------------------------------------------------------
function bindControls(): void {
  const score = byId<HTMLInputElement>('score');
  const out = byId<HTMLOutputElement>('score-out');
  score.value = String(state.minScore);
  out.textContent = state.minScore.toFixed(2);
  score.addEventListener('input', () => {
    state.minScore = Number(score.value);
    out.textContent = state.minScore.toFixed(2);
    applyFilters();
  });
  byId<HTMLSelectElement>('aoi').addEventListener('change', (e) => {
    state.aoi = (e.target as HTMLSelectElement).value || null;
    applyFilters();
    flyToAoi(state.aoi);
  });
  byId('fly').addEventListener('click', () => flyToAoi(state.aoi));
  byId<HTMLSelectElement>('model').addEventListener('change', (e) => {
    state.model = (e.target as HTMLSelectElement).value || null;
    applyFilters();
  });
  for (const key of ['composite', 'probability', 'heat', 'sites'] as const) {
    const box = byId<HTMLInputElement>(`lyr-${key}`);
    box.checked = state.layers[key];
    box.addEventListener('change', () => setVisibility(key, box.checked));
  }
  for (const kind of ['composite', 'probability'] as const) {
    const range = byId<HTMLInputElement>(`${kind}-opacity`);
    range.value = String(kind === 'composite' ? state.compositeOpacity : state.probabilityOpacity);
    range.addEventListener('input', () => setOpacity(kind, Number(range.value)));
  }
  const mode = byId<HTMLSelectElement>('composite-mode');
  mode.value = state.compositeMode;
  mode.addEventListener('change', () => {
    state.compositeMode = mode.value === 'true' ? 'true' : 'false';
    setRasters();
    writeHash();
  });
}

map.on('error', (e) => {
  // Tile errors (offline basemap, an AOI without a raster) must not break the map; report the rest.
  const source = (e as unknown as { sourceId?: string }).sourceId;
  if (source === 'carto' || source?.startsWith('composite-') || source?.startsWith('probability-')) return;
  setStatus(`Map error: ${e.error?.message ?? 'unknown'}`, true);
});
map.on('moveend', () => {
  writeHash();
  scheduleListRefresh();
});
bindControls();
map.on('load', () => void init());
Object.assign(window, { lw: { map, state } });
