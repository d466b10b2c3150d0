import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { contentSecurityPolicy, extraConnectSources, noCdnFallback, sitePolicy, transformersOrtDist } from './scripts/site-policy';

// The lab is a static site: `npm run build` writes dist-web/, servable from any static host.
// Workers are ES modules; WGSL sources are bundled as strings through `?raw` imports.
// The built site carries its Content-Security-Policy (a <meta> tag, and `_headers` for hosts that
// read it; `vite preview` sends the same header) and no CDN address: scripts/site-policy.ts.
const extraConnect = extraConnectSources();

export default defineConfig({
  base: './',
  build: { outDir: 'dist-web', target: 'es2022', sourcemap: true },
  plugins: [sitePolicy({ extraConnect }), noCdnFallback()],
  worker: { format: 'es', plugins: () => [noCdnFallback()] },
  resolve: {
    // ONNX Runtime's WASM files as transformers.js resolves its onnxruntime-web (see transformersOrtDist).
    alias: [{ find: /^ort-of-transformers\//, replacement: `${transformersOrtDist(path.dirname(fileURLToPath(import.meta.url)))}/` }],
  },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1', headers: { 'Content-Security-Policy': contentSecurityPolicy({ extraConnect }), 'X-Content-Type-Options': 'nosniff' } },
});
