// The production build's network policy (scripts/site-policy.ts): the built files carry the
// Content-Security-Policy (a <meta> tag before any script, `_headers` for static hosts; the preview
// server sends the header, as such a host would, to the page and its workers alike), index.html
// has no inline script, and no file holds a CDN address. In Chromium the page and the engine worker
// enforce it: an inline script, an image from elsewhere and a request to a host outside the list
// are refused, a Hub host is not. That the lab still works under it is the other e2e files' job
// (the app path, pretrained models through transformers.js and ONNX Runtime's self-hosted WASM).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import type { PreviewServer } from 'vite';
import { collectPageErrors, launchChromium, startPreview } from './browser';
import { cdnAddressesIn, contentSecurityPolicy, extraConnectSources, headersFile } from '../scripts/site-policy';

const OUT = process.env.THINKER_E2E_OUT ?? 'dist-web';
const extraConnect = extraConnectSources();

describe('the built site and its Content-Security-Policy', () => {
  let server: PreviewServer;
  let url: string;
  let browser: Browser;

  beforeAll(async () => {
    ({ server, url } = await startPreview());
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('ships the policy in index.html and _headers, no inline script, and no CDN address in any file', async () => {
    const html = readFileSync(path.join(OUT, 'index.html'), 'utf8');
    const metas = [...html.matchAll(/<meta http-equiv="Content-Security-Policy" content="([^"]*)"/g)].map((m) => m[1]);
    expect(metas).toEqual([contentSecurityPolicy({ meta: true, extraConnect })]);
    // Before anything it governs.
    const at = html.indexOf('Content-Security-Policy');
    for (const tag of ['<script', '<link rel="stylesheet"']) expect(html.indexOf(tag), tag).toBeGreaterThan(at);
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attrs, body] of scripts) {
      expect(attrs).toMatch(/\ssrc="\.\/assets\/[^"]+\.js"/);
      expect(body.trim()).toBe('');
    }
    expect(html).not.toMatch(/\son[a-z]+="/);
    expect(readFileSync(path.join(OUT, '_headers'), 'utf8')).toBe(headersFile(contentSecurityPolicy({ extraConnect })));
    expect(await cdnAddressesIn(OUT)).toEqual({});
    // public/ is copied as-is: the icon and the manifest the page links, and the manifest's icon.
    const manifest = JSON.parse(readFileSync(path.join(OUT, 'manifest.webmanifest'), 'utf8'));
    expect(manifest).toMatchObject({ name: 'Thinker Lab', start_url: './' });
    for (const icon of manifest.icons) expect(readFileSync(path.join(OUT, icon.src), 'utf8')).toMatch(/^<svg /);
    expect(html).toContain('<link rel="manifest" href="./manifest.webmanifest"');
    expect(html).toContain('<link rel="icon" type="image/svg+xml" href="./favicon.svg"');
    // ONNX Runtime's WASM files are in the build, beside the worker that points at them.
    const assets = readdirSync(path.join(OUT, 'assets'));
    // No source maps shipped (THINKER_SOURCEMAP=1 builds them for debugging).
    expect(assets.filter((f) => f.endsWith('.map'))).toEqual([]);
    expect(assets.filter((f) => /^ort-wasm-simd-threaded\.asyncify-.*\.(wasm|mjs)$/.test(f))).toHaveLength(2);
    const worker = assets.find((f) => /^pretrained\.worker-.*\.js$/.test(f))!;
    expect(readFileSync(path.join(OUT, 'assets', worker), 'utf8')).toMatch(/ort-wasm-simd-threaded\.asyncify-[\w-]+\.mjs/);

    // The preview server sends it as a header, with every file (worker scripts get their policy from theirs).
    for (const f of ['', `assets/${worker}`]) {
      const res = await fetch(new URL(f, url));
      expect(res.headers.get('content-security-policy'), f || 'index.html').toBe(contentSecurityPolicy({ extraConnect }));
    }
  });

  it('the page and the engine worker refuse what the policy does not allow', async () => {
    const page = await browser.newPage();
    const errors = collectPageErrors(page);
    await page.goto(url);
    await page.getByTestId('nav-data').waitFor({ timeout: 60_000 });
    // The app itself runs without a violation: a refusal is a console error.
    expect(errors).toEqual([]);

    const page1 = await page.evaluate(async () => {
      const seen: string[] = [];
      document.addEventListener('securitypolicyviolation', (e) => seen.push(`${e.effectiveDirective} ${e.blockedURI}`));
      const s = document.createElement('script');
      s.textContent = 'window.inlineRan = true';
      document.head.append(s);
      const img = new Image();
      img.src = 'https://example.com/x.png';
      await fetch('http://127.0.0.2:9/x').catch(() => undefined);
      for (let i = 0; i < 50 && seen.length < 6; i++) await new Promise((r) => setTimeout(r, 100));
      return { seen: seen.sort(), inlineRan: (window as unknown as { inlineRan?: boolean }).inlineRan === true };
    });
    expect(page1.inlineRan).toBe(false);
    // Each refused twice: the header's policy and the <meta> copy both apply to the page.
    const refused = ['connect-src http://127.0.0.2:9/x', 'img-src https://example.com/x.png', 'script-src-elem inline'];
    expect(page1.seen).toEqual(refused.flatMap((r) => [r, r]));

    // The engine worker (started by the page's WebGPU check) has the policy too, from its script's header.
    await expect.poll(() => page.workers().some((w) => /engine\.worker/.test(w.url())), { timeout: 60_000 }).toBe(true);
    const engine = page.workers().find((w) => /engine\.worker/.test(w.url()))!;
    const inWorker = await engine.evaluate(async () => {
      const seen: string[] = [];
      self.addEventListener('securitypolicyviolation', (e) =>
        seen.push(`${(e as SecurityPolicyViolationEvent).effectiveDirective} ${(e as SecurityPolicyViolationEvent).blockedURI}`),
      );
      await fetch('http://127.0.0.2:9/y').catch(() => undefined);
      // A Hub host is allowed (this machine has no network, so the request itself fails).
      await fetch('https://huggingface.co/api/whoami', { signal: AbortSignal.timeout(3000) }).catch(() => undefined);
      for (let i = 0; i < 30 && seen.length < 1; i++) await new Promise((r) => setTimeout(r, 100));
      return seen;
    });
    expect(inWorker).toEqual(['connect-src http://127.0.0.2:9/y']);
    await page.close();
  });
});
