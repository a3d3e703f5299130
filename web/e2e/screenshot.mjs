// Screenshot of a running launchwatch map (e.g. `make demo`) for the README.
// Usage: node e2e/screenshot.mjs [URL] [OUT.png]  (URL may carry a hash: #aoi=...&...)
import { launchChromium } from './browser.mjs';

const url = process.argv[2] ?? 'http://127.0.0.1:8080/';
const out = process.argv[3] ?? 'map.png';
const { page, close } = await launchChromium();
try {
  await page.goto(url);
  await page.waitForFunction(() => window.mapReady === true, null, { timeout: 30000 });
  await page.waitForFunction(() => window.lw.map.areTilesLoaded(), null, { timeout: 30000 }).catch(() => {});
  await page.waitForTimeout(Number(process.env.SETTLE_MS ?? 3000));
  await page.screenshot({ path: out });
  console.log(out);
} finally {
  await close();
}
