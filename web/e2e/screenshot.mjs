// Screenshot of a running launchwatch map (e.g. `make demo`) for the README.
// Usage: node e2e/screenshot.mjs [URL] [OUT.png]  (URL may carry a hash: #aoi=...&...)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const url = process.argv[2] ?? 'http://127.0.0.1:8080/';
const out = process.argv[3] ?? 'map.png';
const profile = mkdtempSync(join(tmpdir(), 'chromium-profile-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 800 },
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  await page.goto(url);
  await page.waitForFunction(() => window.mapReady === true, null, { timeout: 30000 });
  await page.waitForFunction(() => window.lw.map.areTilesLoaded(), null, { timeout: 30000 }).catch(() => {});
  await page.waitForTimeout(Number(process.env.SETTLE_MS ?? 3000));
  await page.screenshot({ path: out });
  console.log(out);
} finally {
  await ctx.close();
  rmSync(profile, { recursive: true, force: true });
}
