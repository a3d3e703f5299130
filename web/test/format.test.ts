import { describe, expect, it } from 'vitest';
import { formatArea, formatDate, formatLonLat, provenanceLines } from '../src/format';

describe('formatting', () => {
  it('areas switch to m² below 0.01 km²', () => {
    expect(formatArea(0.004)).toBe('4000 m²');
    expect(formatArea(0.1234)).toBe('0.123 km²');
    expect(formatArea(12.345)).toBe('12.35 km²');
  });
  it('coordinates carry hemispheres', () => {
    expect(formatLonLat([-63.3, 45.9])).toBe('45.90000° N, 63.30000° W');
    expect(formatLonLat([10, -1])).toBe('1.00000° S, 10.00000° E');
  });
  it('dates in UTC minutes, unparseable passed through', () => {
    expect(formatDate('2026-01-02T03:04:05+01:00')).toBe('2026-01-02 02:04 UTC');
    expect(formatDate('soon')).toBe('soon');
  });
  it('provenance lines summarise lists, numbers and objects', () => {
    expect(provenanceLines({ scenes: ['a', 'b', 'c', 'd'], mean_probability: 0.81234, tiles: 3, stretch: { p2: 1 }, note: null })).toEqual([
      'scenes: 4 (a, b, c, …)',
      'mean_probability: 0.812',
      'tiles: 3',
      'stretch: {"p2":1}',
      'note: null',
    ]);
  });
});
