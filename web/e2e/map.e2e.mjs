// End-to-end check of the map in headless Chromium against a running launchwatch API.
// Env: BASE_URL (API serving web/dist), EXPECT (JSON: {high, mid, low, other, site, token}),
// SCREENSHOTS (comma-separated PNG paths). Prints a JSON summary; exits non-zero on failure.
import assert from 'node:assert/strict';
import { launchChromium } from './browser.mjs';

const base = process.env.BASE_URL ?? 'http://127.0.0.1:8080';
const expect = JSON.parse(process.env.EXPECT ?? '{}');
const shots = (process.env.SCREENSHOTS ?? '').split(',').filter(Boolean);
const summary = { steps: [], consoleErrors: [], basemapRequests: 0 };
// The API probes the basemap server-side (/basemap); offline the browser must not request
// anything from the tile server, so not a single console error appears.
const step = (name) => summary.steps.push(name);

const { page, close } = await launchChromium();
try {
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    summary.consoleErrors.push(`${m.text()} @${m.location().url}`);
  });
  page.on('request', (r) => {
    if (r.url().includes('basemaps.cartocdn.com')) summary.basemapRequests += 1;
  });
  page.on('pageerror', (e) => summary.consoleErrors.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => {
    if (r.url().startsWith(base) && r.failure()?.errorText !== 'net::ERR_ABORTED') summary.consoleErrors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });

  /** Ids of the detections drawn as markers, sorted. */
  const rendered = () =>
    page.evaluate(() => [...new Set(window.lw.map.queryRenderedFeatures({ layers: ['detections'] }).map((f) => f.id))].sort((a, b) => a - b));
  const waitRendered = async (ids) => {
    const want = [...ids].sort((a, b) => a - b);
    await page.waitForFunction(
      (w) => JSON.stringify([...new Set(window.lw.map.queryRenderedFeatures({ layers: ['detections'] }).map((f) => f.id))].sort((a, b) => a - b)) === JSON.stringify(w),
      want,
      { timeout: 15000 },
    ).catch(() => {});
    assert.deepEqual(await rendered(), want);
  };

  await page.goto(base + '/');
  await page.waitForFunction(() => window.mapReady === true, null, { timeout: 30000 });
  step('map loaded');

  // Default score filter 0.30: the 0.2 detection is hidden, the others are drawn.
  await waitRendered([expect.high, expect.mid, expect.other]);
  step('detections rendered from vector tiles');
  await page.waitForFunction(() => document.querySelectorAll('#detection-list li[data-id]').length === 3, null, { timeout: 10000 });
  const listIds = await page.$$eval('#detection-list li[data-id]', (lis) => lis.map((li) => Number(li.dataset.id)));
  assert.deepEqual(listIds, [expect.high, expect.other, expect.mid], 'list sorted by score');
  step('list of detections in view sorted by score');

  // Known sites layer and toggle.
  await page.waitForFunction(() => window.lw.map.queryRenderedFeatures({ layers: ['known-sites'] }).length === 1, null, { timeout: 10000 });
  assert.match(await page.textContent('.site-label'), /Test Pad \(Testland\)/);
  await page.uncheck('#lyr-sites');
  assert.equal(await page.evaluate(() => window.lw.map.getLayoutProperty('known-sites', 'visibility')), 'none');
  assert.equal(await page.evaluate(() => window.lw.map.queryRenderedFeatures({ layers: ['known-sites'] }).length), 0);
  assert.equal(await page.isVisible('.site-label'), false);
  await page.check('#lyr-sites');
  await page.waitForFunction(() => window.lw.map.queryRenderedFeatures({ layers: ['known-sites'] }).length === 1, null, { timeout: 5000 });
  step('known sites toggle');

  // Score slider hides low scores without refetching tiles.
  let tileRequests = 0;
  page.on('request', (r) => {
    if (r.url().includes('/tiles/')) tileRequests += 1;
  });
  await page.$eval('#score', (el) => {
    el.value = '0.7';
    el.dispatchEvent(new Event('input', { bubbles: true }));
  });
  await waitRendered([expect.high, expect.other]);
  assert.equal(tileRequests, 0, 'slider must not refetch tiles');
  assert.match(await page.evaluate(() => location.hash), /score=0\.70/);
  step('score slider filters, reflected in URL hash');

  // Model version filter.
  await page.selectOption('#model', 'unet/2');
  await waitRendered([expect.other]);
  assert.match(await page.evaluate(() => location.hash), /model=unet\/2/);
  await page.selectOption('#model', '');
  await waitRendered([expect.high, expect.other]);
  step('model filter');

  // Raster layers: probability heat on with opacity, composite off.
  await page.check('#lyr-probability');
  await page.$eval('#probability-opacity', (el) => {
    el.value = '0.5';
    el.dispatchEvent(new Event('input', { bubbles: true }));
  });
  await page.uncheck('#lyr-composite');
  await page.waitForFunction(() => window.lw.map.areTilesLoaded(), null, { timeout: 15000 });
  const rasters = await page.evaluate(() => ({
    prob: window.lw.map.getLayoutProperty('probability-demo', 'visibility'),
    probOpacity: window.lw.map.getPaintProperty('probability-demo', 'raster-opacity'),
    comp: window.lw.map.getLayoutProperty('composite-demo', 'visibility'),
  }));
  assert.deepEqual(rasters, { prob: 'visible', probOpacity: 0.5, comp: 'none' });
  assert.match(await page.evaluate(() => location.hash), /layers=probability%2Csites|layers=probability,sites/);
  await page.check('#lyr-composite');
  step('raster layer toggles and opacity');

  // Detection density (heatmap) toggle.
  await page.check('#lyr-heat');
  assert.equal(await page.evaluate(() => window.lw.map.getLayoutProperty('detections-heat', 'visibility')), 'visible');
  await page.uncheck('#lyr-heat');
  step('density toggle');

  // Zoomed out, markers come from the centroids of the best detections (same filter).
  const view = await page.evaluate(() => ({ center: window.lw.map.getCenter(), zoom: window.lw.map.getZoom() }));
  await page.evaluate(() => new Promise((done) => {
    window.lw.map.once('idle', done);
    window.lw.map.jumpTo({ zoom: 5 });
  }));
  const overview = await page.evaluate(() => [...new Set(window.lw.map.queryRenderedFeatures({ layers: ['detections-overview'] }).map((f) => f.id))].sort((a, b) => a - b));
  assert.deepEqual(overview, [expect.high, expect.other].sort((a, b) => a - b));
  if (shots.length) await page.screenshot({ path: shots[0].replace(/\.png$/, '-overview.png') });
  // AOI selector flies to the AOI and is kept in the hash.
  await page.selectOption('#aoi', 'demo');
  await page.waitForFunction(() => window.lw.map.getZoom() > 12 && !window.lw.map.isMoving(), null, { timeout: 15000 });
  assert.match(await page.evaluate(() => location.hash), /aoi=demo/);
  await page.evaluate((v) => window.lw.map.jumpTo(v), view);
  await waitRendered([expect.high, expect.other]);
  step('overview markers at low zoom, AOI fly-to');

  // Click the best detection on the map → evidence panel with a loaded thumbnail.
  const canvas = await page.locator('#map canvas').boundingBox();
  const pt = await page.evaluate((c) => window.lw.map.project(c), expect.highCenter);
  await page.mouse.click(canvas.x + pt.x, canvas.y + pt.y);
  await page.waitForSelector('#panel:not([hidden]) #thumbnail', { timeout: 10000 });
  await page.waitForFunction(() => {
    const img = document.getElementById('thumbnail');
    return img && img.complete && img.naturalWidth === 256;
  }, null, { timeout: 15000 });
  const panelText = await page.textContent('#panel');
  assert.match(panelText, new RegExp(`Detection #${expect.high}`));
  assert.match(panelText, /0\.95/);
  assert.match(panelText, /unet\/1/);
  assert.match(panelText, /S2A_TEST/);
  assert.match(await page.evaluate(() => location.hash), new RegExp(`sel=${expect.high}`));
  step('click opens evidence panel with thumbnail');

  // Review with a token.
  assert.equal(await page.isDisabled('button[data-verdict=confirmed]'), true);
  await page.fill('#review-token', expect.token);
  await page.fill('#review-reason', 'launch_pad');
  await page.click('button[data-verdict=confirmed]');
  await page.waitForFunction(() => /Saved: confirmed/.test(document.getElementById('panel-body').textContent), null, { timeout: 10000 });
  step('review saved');

  for (const p of shots) await page.screenshot({ path: p });

  // Keyboard: close the panel with Escape, open the second list entry with arrows + Enter.
  await page.keyboard.press('Escape');
  assert.equal(await page.isHidden('#panel'), true);
  await page.focus('#detection-list li[data-id]');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await page.waitForFunction((id) => /Detection #\d+/.test(document.getElementById('panel-title').textContent) && document.getElementById('panel-title').textContent.endsWith(`#${id}`), expect.other, { timeout: 10000 });
  await page.waitForFunction(() => document.getElementById('thumbnail')?.complete === true, null, { timeout: 15000 });
  step('keyboard navigation of the list');

  // The hash restores filters on reload.
  await page.reload();
  await page.waitForFunction(() => window.mapReady === true, null, { timeout: 30000 });
  assert.equal(await page.inputValue('#score'), '0.7');
  await waitRendered([expect.high, expect.other]);
  step('URL hash restores state');

  // Monitoring: the alert list (new since a day) opens a site's timeline with thumbnails.
  await page.waitForSelector('#alert-list li[data-site]', { timeout: 15000 });
  assert.equal(await page.locator('#alert-list li[data-site]').count(), 1);
  await page.click('#alert-list li[data-site]');
  await page.waitForFunction((id) => document.getElementById('panel-title')?.textContent === `Site #${id}`, expect.alertSite, { timeout: 15000 });
  await page.waitForSelector('#panel .timeline figure', { timeout: 15000 });
  assert.equal(await page.locator('#panel .timeline figure').count(), 2);
  await page.waitForFunction(() => [...document.querySelectorAll('#panel .timeline img')].some((i) => i.complete && i.naturalWidth > 0), null, { timeout: 15000 });
  step('alert opens the site timeline with a thumbnail');
  await page.fill('#since', '2999-01-01');
  await page.dispatchEvent('#since', 'change');
  await page.waitForFunction(() => document.querySelector('#alert-list .empty')?.textContent === 'No alerts.', null, { timeout: 15000 });
  step('"new since" filters the alerts');

  assert.deepEqual(summary.consoleErrors, [], 'no console errors');
  const { online } = await page.evaluate(() => fetch('/basemap').then((r) => r.json()));
  assert.equal(online || summary.basemapRequests === 0, true, 'no basemap requests offline');
  step(`basemap ${online ? 'online' : 'offline'}`);
  summary.ok = true;
} catch (err) {
  summary.ok = false;
  summary.error = String(err?.stack ?? err);
  process.exitCode = 1;
} finally {
  await close();
  console.log(JSON.stringify(summary));
}
