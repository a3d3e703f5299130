import { describe, expect, it } from 'vitest';
import { DEFAULT_STATE, formatHash, parseHash } from '../src/state';

describe('URL hash state', () => {
  it('defaults on an empty hash', () => {
    expect(parseHash('')).toEqual(DEFAULT_STATE);
  });
  it('round-trips view, filters, layers and selection', () => {
    const s = parseHash('#map=12.50/50.01000/10.02000&score=0.65&aoi=demo&model=unet%2F1&layers=probability,sites&rgb=true&co=0.40&po=0.90&sel=7');
    expect(s).toEqual({
      view: { zoom: 12.5, lat: 50.01, lon: 10.02 },
      minScore: 0.65,
      aoi: 'demo',
      model: 'unet/1',
      layers: { composite: false, probability: true, heat: false, sites: true },
      compositeMode: 'true',
      compositeOpacity: 0.4,
      probabilityOpacity: 0.9,
      selected: 7,
    });
    expect(parseHash(formatHash(s))).toEqual(s);
  });
  it('falls back on malformed values and clamps ranges', () => {
    const s = parseHash('#map=abc/1/2&score=7&co=-1&sel=-3&rgb=purple');
    expect(s.view).toBeNull();
    expect(s.minScore).toBe(1);
    expect(s.compositeOpacity).toBe(0);
    expect(s.selected).toBeNull();
    expect(s.compositeMode).toBe('false');
    expect(parseHash('#map=3/95/0').view).toBeNull();
  });
  it('keeps an explicit empty layer list', () => {
    expect(parseHash('#layers=').layers).toEqual({ composite: false, probability: false, heat: false, sites: false });
  });
});
