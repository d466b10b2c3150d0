// The production site's network policy (scripts/site-policy.ts), without building: the CSP's
// directives, the origins a build may add, the ONNX Runtime files resolved through
// @huggingface/transformers whatever npm hoisted, and the transform that takes transformers.js's
// CDN default out of the bundle. e2e/csp.e2e.ts checks the built site itself.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import {
  CDN_HOSTS,
  cdnAddresses,
  contentSecurityPolicy,
  cspDirectives,
  extraConnectSources,
  headersFile,
  noCdnFallback,
  transformersOrtDist,
} from '../../scripts/site-policy';

const root = path.resolve(__dirname, '../..');

describe('the Content-Security-Policy', () => {
  it("lets scripts and workers come only from the site, and connections go only to it, the Hub's hosts and a mirror on this machine", () => {
    const d = Object.fromEntries(cspDirectives());
    expect(d['script-src']).toEqual(["'self'", "'wasm-unsafe-eval'"]);
    expect(d['worker-src']).toEqual(["'self'", 'blob:']);
    expect(d['connect-src']).toEqual([
      "'self'",
      'https://huggingface.co',
      'https://*.huggingface.co',
      'https://hf.co',
      'https://*.hf.co',
      'http://127.0.0.1:*',
      'http://localhost:*',
    ]);
    expect(d['img-src']).toEqual(["'self'", 'blob:', 'data:']);
    expect(d['default-src']).toEqual(["'self'"]);
    expect(d['object-src']).toEqual(["'none'"]);
    expect(d['frame-ancestors']).toEqual(["'none'"]);
    const policy = contentSecurityPolicy();
    // No inline or eval'd script, no "any host" (*) and no "any host of a scheme" (https:, data: for scripts).
    expect(policy).not.toMatch(/unsafe-inline|'unsafe-eval'|(^|\s)\*(\s|;|$)|\shttps?:(\s|;|$)/);
    expect(policy.match(/script-src [^;]*/)![0]).not.toMatch(/data:|blob:/);
    // A <meta> policy cannot carry frame-ancestors (browsers ignore it there, with a console error).
    expect(contentSecurityPolicy({ meta: true })).not.toContain('frame-ancestors');
    expect(contentSecurityPolicy({ meta: true })).toBe(policy.replace("; frame-ancestors 'none'", ''));
    expect(headersFile(policy)).toBe(`/*\n  Content-Security-Policy: ${policy}\n  X-Content-Type-Options: nosniff\n`);
  });

  it('a build may add mirror origins (THINKER_CSP_CONNECT), each checked', () => {
    expect(extraConnectSources(undefined)).toEqual([]);
    expect(extraConnectSources('https://hf-mirror.com, http://10.0.0.5:8080')).toEqual(['https://hf-mirror.com', 'http://10.0.0.5:8080']);
    expect(contentSecurityPolicy({ extraConnect: ['https://hf-mirror.com'] })).toContain('http://localhost:* https://hf-mirror.com;');
    expect(() => extraConnectSources("https://x.org 'unsafe-inline'")).toThrow(/THINKER_CSP_CONNECT: "'unsafe-inline'" is not an origin/);
    expect(() => extraConnectSources('https://x.org/path')).toThrow(/not an origin/);
  });
});

describe('ONNX Runtime, self-hosted', () => {
  it('its WASM files come from the onnxruntime-web that transformers.js imports, of the version it depends on', () => {
    const dist = transformersOrtDist(root);
    for (const f of ['ort-wasm-simd-threaded.asyncify.wasm', 'ort-wasm-simd-threaded.asyncify.mjs']) expect(existsSync(path.join(dist, f)), f).toBe(true);
    const req = createRequire(path.join(root, 'package.json'));
    const transformersDir = path.dirname(path.dirname(req.resolve('@huggingface/transformers')));
    const wanted = JSON.parse(readFileSync(path.join(transformersDir, 'package.json'), 'utf8')).dependencies['onnxruntime-web'];
    expect(JSON.parse(readFileSync(path.join(dist, '..', 'package.json'), 'utf8')).version).toBe(wanted);
    // Imported through the alias, never by a node_modules path that npm's de-duplication may move.
    const worker = readFileSync(path.join(root, 'workers/pretrained.worker.ts'), 'utf8');
    expect(worker).not.toMatch(/node_modules/);
    expect(worker).toMatch(/from 'ort-of-transformers\/ort-wasm-simd-threaded\.asyncify\.wasm\?url'/);
  });

  it("the build drops transformers.js's jsDelivr default, and fails when a new version moved it", () => {
    const req = createRequire(path.join(root, 'package.json'));
    const file = path.join(path.dirname(req.resolve('@huggingface/transformers')), 'transformers.web.js');
    const code = readFileSync(file, 'utf8');
    expect(cdnAddresses(code)).toEqual(['cdn.jsdelivr.net']);
    const plugin = noCdnFallback();
    // The plugin context's error() throws, as in a build.
    const ctx = {
      error: (m: string) => {
        throw new Error(m);
      },
    };
    const transform = plugin.transform as unknown as (this: typeof ctx, code: string, id: string) => { code: string } | null;
    const out = transform.call(ctx, code, file)!;
    expect(cdnAddresses(out.code)).toEqual([]);
    expect(out.code).toContain('const wasmPathPrefix = "./";');
    expect(out.code.length).toBeLessThan(code.length);
    // Other modules pass untouched; a moved default is a build error naming where to fix it.
    expect(transform.call(ctx, 'const u = "https://cdn.jsdelivr.net/x";', '/src/app/x.ts')).toBeNull();
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the source text handed to the transform holds a template literal.
    expect(() => transform.call(ctx, 'const p = `https://cdn.jsdelivr.net/npm/onnxruntime-web@${v}/dist2/`;', file)).toThrow(
      /update TRANSFORMERS_ORT_CDN in scripts\/site-policy\.ts/,
    );
    expect(CDN_HOSTS).toContain('unpkg.com');
    expect(cdnAddresses('import x from "https://unpkg.com/y"; fetch("https://esm.sh/z")')).toEqual(['unpkg.com', 'esm.sh']);
  });
});
