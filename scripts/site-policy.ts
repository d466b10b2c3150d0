// What the production site (dist-web/) promises about the network: a Content-Security-Policy
// that lets its scripts and workers come only from its own origin and lets it connect only to
// itself, the Hugging Face hosts a user starts downloads from, and a Hub mirror on this machine;
// and no CDN address anywhere in the bundle, ONNX Runtime's WASM files included (they are
// self-hosted). vite.config.ts applies it; test/scripts/site-policy.test.ts and e2e/csp.e2e.ts
// check it. The dev server is exempt (its module graph and HMR need more).
import { createRequire } from 'node:module';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Plugin } from 'vite';

/**
 * Where Hub downloads go: the Hub (datasets through src/data/hub.ts, models through
 * transformers.js, both https://huggingface.co by default) and the hosts it redirects file
 * downloads to (LFS on cdn-lfs*.huggingface.co and cdn-lfs*.hf.co, Xet storage on
 * cas-bridge.xethub.hf.co and similar), and hf.co, its short domain.
 */
export const HUB_SOURCES = ['https://huggingface.co', 'https://*.huggingface.co', 'https://hf.co', 'https://*.hf.co'];

/**
 * A Hub mirror running on this machine (any port), which the Data and Models pages accept as an
 * endpoint. A mirror elsewhere needs its origin added when building (THINKER_CSP_CONNECT).
 */
export const LOCAL_MIRROR_SOURCES = ['http://127.0.0.1:*', 'http://localhost:*'];

/** Origins from THINKER_CSP_CONNECT (space or comma separated), each checked to be an origin. */
export function extraConnectSources(env: string | undefined = process.env.THINKER_CSP_CONNECT): string[] {
  const out: string[] = [];
  for (const s of (env ?? '').split(/[\s,]+/).filter(Boolean)) {
    if (!/^https?:\/\/[A-Za-z0-9*.-]+(:(\d+|\*))?$/.test(s))
      throw new Error(`THINKER_CSP_CONNECT: "${s}" is not an origin (e.g. https://hf-mirror.com or http://10.0.0.5:8080)`);
    out.push(s);
  }
  return out;
}

/**
 * The policy as directives. `meta`: for the <meta> tag, which browsers do not apply
 * frame-ancestors from (and warn about in the console).
 */
export function cspDirectives(o: { meta?: boolean; extraConnect?: string[] } = {}): [string, string[]][] {
  const d: [string, string[]][] = [
    ['default-src', ["'self'"]],
    // WebAssembly (ONNX Runtime) needs compiling; no inline or eval'd script.
    ['script-src', ["'self'", "'wasm-unsafe-eval'"]],
    // The engine and pretrained workers; ONNX Runtime may start its own from blob: URLs.
    ['worker-src', ["'self'", 'blob:']],
    ['connect-src', ["'self'", ...HUB_SOURCES, ...LOCAL_MIRROR_SOURCES, ...(o.extraConnect ?? [])]],
    // Scans shown from object URLs (blob:) or data: URLs.
    ['img-src', ["'self'", 'blob:', 'data:']],
    ['style-src', ["'self'"]],
    ['object-src', ["'none'"]],
    ['base-uri', ["'self'"]],
    ['form-action', ["'self'"]],
  ];
  if (!o.meta) d.push(['frame-ancestors', ["'none'"]]);
  return d;
}

export const contentSecurityPolicy = (o: { meta?: boolean; extraConnect?: string[] } = {}) =>
  cspDirectives(o)
    .map(([k, v]) => `${k} ${v.join(' ')}`)
    .join('; ');

/** Static hosts that read a `_headers` file (Netlify, Cloudflare Pages) send these with every file, workers included. */
export const headersFile = (policy: string) => `/*\n  Content-Security-Policy: ${policy}\n  X-Content-Type-Options: nosniff\n`;

/** Public CDNs that serve npm packages: none may appear in the built site. */
export const CDN_HOSTS = [
  'cdn.jsdelivr.net',
  'fastly.jsdelivr.net',
  'unpkg.com',
  'cdnjs.cloudflare.com',
  'esm.sh',
  'cdn.skypack.dev',
  'jspm.dev',
  'ga.jspm.io',
  'cdn.esm.sh',
];

/** CDN addresses in a text, as "host" strings found. */
export function cdnAddresses(text: string): string[] {
  return CDN_HOSTS.filter((h) => text.includes(h));
}

/** Files of a built site holding a CDN address: { file: hosts }. Source maps are left out: they are never loaded as code. */
export async function cdnAddressesIn(dir: string): Promise<Record<string, string[]>> {
  const found: Record<string, string[]> = {};
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (!e.name.endsWith('.map')) {
        const hosts = cdnAddresses((await readFile(p)).toString('latin1'));
        if (hosts.length) found[path.relative(dir, p)] = hosts;
      }
    }
  };
  await walk(dir);
  return found;
}

/**
 * The dist/ folder of the onnxruntime-web that @huggingface/transformers itself imports: its own
 * nested copy when npm could not hoist that version, the top-level one when it could. Its WASM
 * files must match the ONNX Runtime JavaScript transformers.js bundles, which another version's
 * do not; so the pretrained worker imports them through this folder (vite.config.ts aliases it as
 * "ort-of-transformers/"), never by a node_modules path.
 */
export function transformersOrtDist(from: string = process.cwd()): string {
  const req = createRequire(path.join(from, 'package.json'));
  const transformers = req.resolve('@huggingface/transformers');
  return path.dirname(createRequire(transformers).resolve('onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm'));
}

/**
 * transformers.js sets ONNX Runtime's wasmPaths to jsDelivr at load when nothing has set them yet.
 * The lab always sets them to its own files before any session starts (src/pretrained/backend.ts,
 * from workers/pretrained.worker.ts), so the default is dead code; it is replaced by the worker's
 * own folder so that the bundle holds no CDN address and nothing could ever reach one.
 */
const TRANSFORMERS_ORT_CDN = /`https:\/\/cdn\.jsdelivr\.net\/npm\/onnxruntime-web@\$\{[^`}]+\}\/dist\/`/g;

/** Strips transformers.js's CDN default (the main and the worker builds both need it). */
export function noCdnFallback(): Plugin {
  return {
    name: 'thinker:no-cdn-fallback',
    apply: 'build',
    transform(code, id) {
      if (!/[\\/]@huggingface[\\/]transformers[\\/]/.test(id) || !code.includes('cdn.jsdelivr.net')) return null;
      const out = code.replace(TRANSFORMERS_ORT_CDN, '"./"');
      // A new transformers.js that moved its default: say where to look rather than ship it.
      const left = cdnAddresses(out);
      if (left.length)
        this.error(`${id} still holds ${left.join(', ')} after removing its ONNX Runtime CDN default: update TRANSFORMERS_ORT_CDN in scripts/site-policy.ts`);
      return { code: out, map: null };
    },
  };
}

/** The production build's policy: the <meta> tag, _headers, and a last check that no file holds a CDN address. */
export function sitePolicy(o: { extraConnect: string[] }): Plugin {
  let outDir = '';
  return {
    name: 'thinker:site-policy',
    apply: 'build',
    configResolved(c) {
      outDir = path.resolve(c.root, c.build.outDir);
    },
    // Right after the charset (which must stay in the first 1024 bytes) and before every script
    // and stylesheet: a <meta> policy governs only what comes after it.
    transformIndexHtml(html) {
      const charset = /<meta charset="UTF-8"\s*\/?>/i;
      if (!charset.test(html)) throw new Error('index.html has no <meta charset="UTF-8" /> to put the Content-Security-Policy after');
      const policy = contentSecurityPolicy({ meta: true, extraConnect: o.extraConnect });
      return html.replace(charset, (m) => `${m}\n    <meta http-equiv="Content-Security-Policy" content="${policy}" />`);
    },
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: '_headers', source: headersFile(contentSecurityPolicy({ extraConnect: o.extraConnect })) });
    },
    async closeBundle() {
      const found = await cdnAddressesIn(outDir);
      const files = Object.entries(found);
      if (files.length) throw new Error(`the built site holds CDN addresses: ${files.map(([f, h]) => `${f} (${h.join(', ')})`).join('; ')}`);
    },
  };
}
