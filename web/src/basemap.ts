/** Online check for the raster basemap, so an offline app never requests (and logs) failing tiles. */

/** Resolve true when the image at `url` loads within `timeoutMs`, false otherwise (never rejects). */
export function probeBasemap(url: string, timeoutMs = 2500): Promise<boolean> {
  if (typeof Image === 'undefined' || (typeof navigator !== 'undefined' && navigator.onLine === false)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const img = new Image();
    const timer = setTimeout(() => done(false), timeoutMs);
    function done(ok: boolean): void {
      clearTimeout(timer);
      img.onload = img.onerror = null;
      resolve(ok);
    }
    img.onload = () => done(true);
    img.onerror = () => done(false);
    img.crossOrigin = 'anonymous';
    img.src = url;
  });
}
