import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import { contentSecurityPolicy, extraConnectSources, noCdnFallback, sitePolicy, transformersOrtDist } from './scripts/site-policy';

// The lab is a static site: `npm run build` writes dist-web/, servable from any static host.
// Workers are ES modules; WGSL sources are bundled as strings through `?raw` imports.
// The built site carries its Content-Security-Policy (a <meta> tag, and `_headers` for hosts that
// read it; `vite preview` sends the same header) and no CDN address: scripts/site-policy.ts.
const extraConnect = extraConnectSources();

/**
 * The engine's shared modules reach Node's fs and path (fs-node.ts), and the Node image decoder
 * (pngjs, images-node.ts), only through lazy imports of `*-node` modules behind a host check. In
 * the site those imports become a module that fails when loaded, so nothing Node-only is bundled (no pngjs chunk, no "externalized
 * for browser compatibility" warnings) and a mistaken call says what happened.
 */
function nodeOnlyStubs(): Plugin {
  const PREFIX = '\0node-only:';
  return {
    name: 'thinker-node-only',
    enforce: 'pre',
    resolveId: (id) => (/^node:/.test(id) || /^\.\.?\/(.*\/)?[\w-]+-node$/.test(id) ? PREFIX + id : null),
    load: (id) => (id.startsWith(PREFIX) ? `throw new Error(${JSON.stringify(`${id.slice(PREFIX.length)} is Node-only: not part of the web build`)});` : null),
  };
}

export default defineConfig({
  base: './',
  // No source maps in the site a user downloads (they were 7 MB); THINKER_SOURCEMAP=1 builds them for debugging.
  build: { outDir: 'dist-web', target: 'es2022', sourcemap: process.env.THINKER_SOURCEMAP === '1' },
  plugins: [nodeOnlyStubs(), sitePolicy({ extraConnect }), noCdnFallback()],
  worker: { format: 'es', plugins: () => [nodeOnlyStubs(), noCdnFallback()] },
  resolve: {
    // ONNX Runtime's WASM files as transformers.js resolves its onnxruntime-web (see transformersOrtDist).
    alias: [{ find: /^ort-of-transformers\//, replacement: `${transformersOrtDist(path.dirname(fileURLToPath(import.meta.url)))}/` }],
  },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1', headers: { 'Content-Security-Policy': contentSecurityPolicy({ extraConnect }), 'X-Content-Type-Options': 'nosniff' } },
});
