import { describe, expect, it } from 'vitest';
import { ApiClient, ApiError, alertsUrl, centroidOf, clampBounds, detectionsUrl, parseAlerts, parseAois, parseBasemap, parseDetectionPage, parseEvidence, parseSite } from '../src/api';

const square = { type: 'Polygon', coordinates: [[[10, 50], [10.02, 50], [10.02, 50.02], [10, 50.02], [10, 50]]] };
const props = { id: 3, score: 0.91, area_km2: 0.2, compactness: 0.7, model_version: 'unet/1', aoi: 'demo', detected_at: '2026-01-02T03:04:05Z' };

describe('monitoring', () => {
  const point = { type: 'Point', coordinates: [63.3, 45.9] };
  it('alerts keep kind, epochs and site; unknown kinds are refused', () => {
    const feature = { type: 'Feature', id: 3, geometry: point, properties: { id: 3, site_id: 7, kind: 'new_construction', epoch: '2024H1', previous_epoch: '2023H2', score: 0.9, aoi: 'baikonur', created_at: '2026-11-25T06:00:00Z' } };
    expect(parseAlerts({ type: 'FeatureCollection', features: [feature] })[0]).toMatchObject({ siteId: 7, kind: 'new_construction', previousEpoch: '2023H2', centroid: [63.3, 45.9] });
    expect(() => parseAlerts({ features: [{ ...feature, properties: { ...feature.properties, kind: 'other' } }] })).toThrow(/kind/);
  });
  it('site timelines keep one entry per epoch with its thumbnail', () => {
    const site = parseSite({
      type: 'Feature', id: 7, geometry: point,
      properties: { id: 7, status: 'persistent', novelty: 'novel', known_site: null, first_seen: '2023H2', last_seen: '2024H1', best_score: 0.91 },
      timeline: [{ epoch: '2023H2', score: 0.8, clear_looks: 6, flags: [], thumbnail_url: '/evidence/1/thumbnail?size=256' }, { epoch: '2024H1', score: 0.91, flags: ['low_coverage'] }],
    });
    expect(site.timeline.map((o) => o.epoch)).toEqual(['2023H2', '2024H1']);
    expect(site.timeline[1]).toMatchObject({ thumbnailUrl: null, clearLooks: null, flags: ['low_coverage'] });
  });
  it('"new since" becomes UTC midnight; junk is ignored', () => {
    expect(alertsUrl('2026-11-01')).toBe('/alerts?limit=100&since=2026-11-01T00%3A00%3A00Z');
    expect(alertsUrl('yesterday')).toBe('/alerts?limit=100');
  });
});

describe('parsing', () => {
  it('basemap is added only when the server reached it with https tiles', () => {
    const tiles = ['https://a.basemaps.cartocdn.com/dark_all/{z}/{x}/{y}.png'];
    expect(parseBasemap({ online: true, tiles, attribution: '© CARTO' })).toEqual({ online: true, tiles, attribution: '© CARTO' });
    expect(parseBasemap({ online: false, tiles }).online).toBe(false);
    expect(parseBasemap({ online: true, tiles: ['javascript:alert(1)'] }).online).toBe(false);
    expect(parseBasemap('nonsense').online).toBe(false);
  });
  it('centroid of a closed ring ignores the closing vertex', () => {
    const [x, y] = centroidOf(square);
    expect(x).toBeCloseTo(10.01);
    expect(y).toBeCloseTo(50.01);
    expect(centroidOf({ type: 'Point', coordinates: [1, 2] })).toEqual([1, 2]);
    expect(() => centroidOf({ type: 'LineString', coordinates: [] })).toThrow(/LineString/);
  });
  it('detection pages keep total and compute centroids', () => {
    const page = parseDetectionPage({ type: 'FeatureCollection', total: 9, features: [{ type: 'Feature', id: 3, geometry: square, properties: props }] });
    expect(page.total).toBe(9);
    expect(page.detections[0]).toMatchObject({ id: 3, score: 0.91, aoi: 'demo' });
    expect(page.detections[0].centroid[0]).toBeCloseTo(10.01);
    expect(() => parseDetectionPage({ type: 'FeatureCollection', features: [{ properties: { ...props, score: 'x' } }] })).toThrow(/score/);
    expect(() => parseDetectionPage([])).toThrow(/FeatureCollection/);
  });
  it('evidence carries provenance, reviews and the thumbnail URL', () => {
    const ev = parseEvidence({
      ...props,
      geometry: square,
      evidence: { scenes: ['S2A_1'] },
      reviews: [{ id: 1, detection_id: 3, verdict: 'confirmed', reason: 'launch_pad', note: '', reviewer: 'a', created_at: '2026-01-03T00:00:00Z' }],
      thumbnail_url: '/evidence/3/thumbnail?size=256',
    });
    expect(ev.provenance).toEqual({ scenes: ['S2A_1'] });
    expect(ev.reviews[0].verdict).toBe('confirmed');
    expect(ev.thumbnail_url).toBe('/evidence/3/thumbnail?size=256');
    expect(() => parseEvidence({ ...props, geometry: square, reviews: [{ verdict: 'maybe' }], thumbnail_url: '' })).toThrow();
  });
  it('aois with bad bounds get null bounds', () => {
    expect(parseAois([{ name: 'a', bounds: [1, 2, 3, 4], layers: ['composite', 7] }, { name: 'b', bounds: null }])).toEqual([
      { name: 'a', bounds: [1, 2, 3, 4], layers: ['composite'] },
      { name: 'b', bounds: null, layers: [] },
    ]);
  });
});

describe('urls', () => {
  it('detections query uses API parameter names and omits defaults', () => {
    expect(detectionsUrl({})).toBe('/detections?limit=100');
    const u = new URL('http://x' + detectionsUrl({ bbox: [10.1234567, 50, 11, 51], minScore: 0.5, aoi: 'demo', modelVersion: 'unet/1', limit: 20, offset: 40 }));
    expect(Object.fromEntries(u.searchParams)).toEqual({ bbox: '10.123457,50,11,51', min_score: '0.5', aoi: 'demo', model_version: 'unet/1', limit: '20', offset: '40' });
  });
  it('clamps world-wrapped view bounds', () => {
    expect(clampBounds([-200, -95, 200, 95])).toEqual([-180, -90, 180, 90]);
  });
});

describe('ApiClient', () => {
  it('raises ApiError with the API detail on non-2xx answers', async () => {
    const client = new ApiClient(async () => new Response(JSON.stringify({ detail: 'detection 9 not found' }), { status: 404 }));
    await expect(client.evidence(9)).rejects.toMatchObject({ status: 404, message: expect.stringMatching(/detection 9 not found/) });
    await expect(client.evidence(9)).rejects.toBeInstanceOf(ApiError);
  });
  it('posts reviews with the bearer token and JSON body', async () => {
    let seen: Request | undefined;
    const client = new ApiClient(async (input, init) => {
      seen = new Request(String(new URL(String(input), 'http://x')), init);
      return new Response(JSON.stringify({ id: 5, detection_id: 3, verdict: 'rejected', reason: 'quarry', note: '', reviewer: 'analyst', created_at: '2026-01-01T00:00:00Z' }), { status: 201 });
    });
    const r = await client.review(3, 'tok', 'rejected', 'quarry');
    expect(r.verdict).toBe('rejected');
    expect(seen!.method).toBe('POST');
    expect(new URL(seen!.url).pathname).toBe('/detections/3/review');
    expect(seen!.headers.get('authorization')).toBe('Bearer tok');
    expect(await seen!.json()).toEqual({ verdict: 'rejected', reason: 'quarry', note: '' });
  });
});
