/**
 * Online check for the raster basemap, so an offline app never adds a layer of failing tiles.
 *
 * The probe is one image request per browser session (its result is kept in sessionStorage);
 * offline, the browser itself logs that single failed request as a network error.
 */

const KEY = 'launchwatch.basemap';

/** Resolve true when the image at `url` loads within `timeoutMs`, false otherwise (never rejects). */
export function probeBasemap(url: string, timeoutMs = 2500): Promise<boolean> {
  const known = sessionStorage.getItem(KEY);
  if (known === 'online' || known === 'offline') return Promise.resolve(known === 'online');
  if (navigator.onLine === false) return Promise.resolve(false);
  return new Promise((resolve) => {
    const img = new Image();
    const timer = setTimeout(() => done(false), timeoutMs);
    function done(ok: boolean): void {
      clearTimeout(timer);
      img.onload = img.onerror = null;
      sessionStorage.setItem(KEY, ok ? 'online' : 'offline');
      resolve(ok);
    }
    img.onload = () => done(true);
    img.onerror = () => done(false);
    img.crossOrigin = 'anonymous';
    img.src = url;
  });
}
