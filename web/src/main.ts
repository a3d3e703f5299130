import 'maplibre-gl/dist/maplibre-gl.css';
import { Map as MlMap, setWorkerUrl } from 'maplibre-gl';
import workerUrl from 'maplibre-gl/dist/maplibre-gl-worker.mjs?url';

setWorkerUrl(workerUrl);
new MlMap({
  container: 'map',
  center: [0, 20],
  zoom: 2,
  style: { version: 8, sources: {}, layers: [{ id: 'bg', type: 'background', paint: { 'background-color': '#0e1116' } }] },
});
