/** Display formatting (pure). */

export function formatScore(score: number): string {
  return score.toFixed(2);
}

export function formatArea(km2: number): string {
  return km2 < 0.01 ? `${(km2 * 1e6).toFixed(0)} m²` : `${km2.toFixed(km2 < 1 ? 3 : 2)} km²`;
}

export function formatLonLat([lon, lat]: [number, number]): string {
  return `${Math.abs(lat).toFixed(5)}° ${lat >= 0 ? 'N' : 'S'}, ${Math.abs(lon).toFixed(5)}° ${lon >= 0 ? 'E' : 'W'}`;
}

export function formatDate(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
}

/** One line per provenance entry (`scenes: 3 (S2A_…, …)`), nested objects as compact JSON. */
export function provenanceLines(p: Record<string, unknown>): string[] {
  return Object.entries(p).map(([k, v]) => {
    if (Array.isArray(v)) return `${k}: ${v.length} (${v.slice(0, 3).map(String).join(', ')}${v.length > 3 ? ', …' : ''})`;
    if (typeof v === 'number') return `${k}: ${Number.isInteger(v) ? v : v.toFixed(3)}`;
    if (v !== null && typeof v === 'object') return `${k}: ${JSON.stringify(v)}`;
    return `${k}: ${String(v)}`;
  });
}
