import { describe, expect, it } from 'vitest';
import { createExpression, featureFilter, latest, validateStyleMin } from '@maplibre/maplibre-gl-style-spec';
import { buildStyle, circleSdf, detectionPoints, colorForScore, detectionFilter, radiusForScore, rasterSource, scoreColor, scoreIconSize, scoreRadius } from '../src/style';

function evaluate(expr: unknown, score: number, property = 'circle-radius'): unknown {
  const spec = (latest.paint_circle as unknown as Record<string, never>)[property];
  const compiled = createExpression(expr, `layers[0].paint.${property}`, spec);
  if (compiled.result !== 'success') throw new Error(JSON.stringify(compiled.value));
  return compiled.value.evaluate({ zoom: 10 }, { type: 'Point', properties: { score }, geometry: [] } as never);
}

describe('score expressions', () => {
  it('radius goes 4 px at 0 to 12 px at 1, monotonic', () => {
    expect(evaluate(scoreRadius(), 0)).toBe(4);
    expect(evaluate(scoreRadius(), 1)).toBe(12);
    expect(evaluate(scoreRadius(), 0.5)).toBe(8);
    expect(radiusForScore(0.25)).toBe(evaluate(scoreRadius(), 0.25));
  });
  it('icon size matches the radius ramp for a 24 px marker', () => {
    expect(evaluate(scoreIconSize(), 0)).toBeCloseTo(8 / 24);
    expect(evaluate(scoreIconSize(), 1)).toBeCloseTo(1);
  });
  it('colour runs gray → amber → red and saturates at 0.9', () => {
    const rgba = (s: number) => (evaluate(scoreColor(), s, 'circle-color') as { r: number; g: number; b: number });
    const gray = rgba(0), amber = rgba(0.5), red = rgba(0.9), top = rgba(1);
    expect(Math.abs(gray.r - gray.b)).toBeLessThan(0.1);
    expect(amber.r).toBeGreaterThan(amber.b + 0.5);
    expect(red.r).toBeGreaterThan(0.8);
    expect(red.g).toBeLessThan(0.3);
    expect(top).toEqual(red);
    expect(colorForScore(0)).toBe('#8a8f98');
    expect(colorForScore(0.5)).toBe('#f5a623');
    expect(colorForScore(0.95)).toBe('#e5322d');
  });
});

describe('filters and sources', () => {
  it('filter keeps scores at or above the slider and matches aoi/model', () => {
    const f = detectionFilter(0.5, 'demo', 'unet/1');
    const { filter } = featureFilter(f, 'layers[0].filter');
    const ev = (props: Record<string, unknown>) => filter({ zoom: 10 }, { type: 1, properties: props, geometry: [] } as never);
    expect(ev({ score: 0.5, aoi: 'demo', model_version: 'unet/1' })).toBe(true);
    expect(ev({ score: 0.49, aoi: 'demo', model_version: 'unet/1' })).toBe(false);
    expect(ev({ score: 0.9, aoi: 'other', model_version: 'unet/1' })).toBe(false);
    expect(ev({ score: 0.9, aoi: 'demo', model_version: 'unet/2' })).toBe(false);
    expect(detectionFilter(0, null, null)).toEqual(['all', ['>=', ['to-number', ['get', 'score']], 0]]);
  });
  it('raster sources use the documented TiTiler parameters', () => {
    const fc = new URL(rasterSource('http://h', 'demo', 'composite', 'false').tiles![0].replace('{z}/{x}/{y}', '1/2/3'));
    expect(fc.pathname).toBe('/raster/tiles/WebMercatorQuad/1/2/3.png');
    expect(fc.searchParams.getAll('bidx')).toEqual(['6', '4', '3']);
    expect(fc.searchParams.get('aoi')).toBe('demo');
    const tc = new URL(rasterSource('http://h', 'demo', 'composite', 'true').tiles![0]);
    expect(tc.searchParams.getAll('bidx')).toEqual(['3', '2', '1']);
    const pr = new URL(rasterSource('http://h', 'demo', 'probability').tiles![0]);
    expect(pr.searchParams.get('colormap_name')).toBe('inferno');
    expect(pr.searchParams.get('rescale')).toBe('0,1');
  });
  it('the base style validates against the MapLibre style spec', () => {
    expect(validateStyleMin(buildStyle('http://127.0.0.1:8080'))).toEqual([]);
  });
  it('circle SDF is opaque-ish in the centre and transparent in the corners', () => {
    const { width, data } = circleSdf(24);
    expect(data[(12 * width + 12) * 4 + 3]).toBe(255);
    expect(data[3]).toBeLessThan(192); // outside the 0.75 SDF edge
  });
  it('detection points carry the tile properties at the centroid', () => {
    const fc = detectionPoints([{ id: 7, score: 0.8, area_km2: 1, compactness: 0.5, model_version: 'm', aoi: 'a', detected_at: '', centroid: [1, 2] }]);
    expect(fc.features[0]).toEqual({ type: 'Feature', id: 7, geometry: { type: 'Point', coordinates: [1, 2] }, properties: { id: 7, score: 0.8, aoi: 'a', model_version: 'm' } });
  });
});
