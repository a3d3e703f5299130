import { defineConfig } from 'vitest/config';

const API = process.env.LAUNCHWATCH_API ?? 'http://127.0.0.1:8080';
const proxied = ['/tiles', '/detections', '/evidence', '/known-sites', '/aois', '/health', '/raster', '/sites', '/alerts'];

export default defineConfig({
  base: '/',
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 1500 },
  server: {
    host: '127.0.0.1',
    proxy: Object.fromEntries(proxied.map((p) => [p, { target: API, changeOrigin: true }])),
  },
  test: { include: ['test/**/*.test.ts'], environment: 'node' },
});
