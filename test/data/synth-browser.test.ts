// The synth curriculum generated in a browser (headless Chromium) is byte-identical to Node's:
// same items, hashes and PNG bytes from the same seed, and the browser's own PNG decoder reads
// the scans back to the rendered pixels.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { generateSynth, type SynthOptions } from '../../src/data/synth';
import { REPO } from './helpers';

const CHROMIUM = '/usr/bin/chromium';
const HAS_CHROMIUM = existsSync(CHROMIUM);
if (!HAS_CHROMIUM) console.warn(`[data tests] ${CHROMIUM} is absent: the browser synth test is skipped`);

interface Out {
  items: string;
  images: string[];
  decodedMatches: boolean[];
}

let dir = '';
let server: Server | null = null;
let browser: Browser | null = null;
let page: Page | null = null;

describe.skipIf(!HAS_CHROMIUM)('synth in the browser (Chromium)', () => {
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'thinker-synth-browser-'));
    const entry = path.join(dir, 'entry.ts');
    await writeFile(
      entry,
      `import { generateSynthCases, renderScene } from ${JSON.stringify(path.join(REPO, 'src/data/synth/index.ts'))};
import { decodeImage } from ${JSON.stringify(path.join(REPO, 'src/io/images.ts'))};
(window as any).run = async (o: any) => {
  const cases = await generateSynthCases(o);
  const images: string[] = [];
  const decodedMatches: boolean[] = [];
  for (const c of cases) {
    for (const im of c.item.images) {
      const bytes = await im.load();
      images.push(btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join('')));
      const d = await decodeImage(bytes, { channels: 1 }, im.name);
      const px = renderScene(c.scene!);
      decodedMatches.push(d.data.length === px.length && px.every((v, i) => Math.round(d.data[i] * 255) === v));
    }
  }
  return { items: JSON.stringify(cases.map((c) => ({ ...c.item, images: c.item.images.map((i) => i.name) }))), images, decodedMatches };
};`,
    );
    await build({
      entryPoints: [entry],
      outdir: path.join(dir, 'out'),
      bundle: true,
      format: 'esm',
      splitting: true,
      platform: 'browser',
      external: ['jpeg-js', 'pngjs'],
      logLevel: 'error',
      absWorkingDir: REPO,
    });
    server = createServer(async (req, res) => {
      const p = req.url === '/' ? null : path.join(dir, 'out', path.basename(req.url ?? ''));
      if (!p) {
        res.setHeader('content-type', 'text/html');
        res.end('<!doctype html><script type="module" src="/entry.js"></script>');
        return;
      }
      try {
        res.setHeader('content-type', 'text/javascript');
        res.end(await readFile(p));
      } catch {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const port = (server!.address() as { port: number }).port;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless=new',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => typeof (window as unknown as { run?: unknown }).run === 'function');
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('same seed, same items and PNG bytes as in Node; the browser decodes them to the rendered pixels', async () => {
    for (const o of [
      { n: 24, kind: 'mixed', level: 3, seed: 2024, split: 'train', noisyFraction: 0.25, sloppyFraction: 0.25 },
      { n: 12, kind: 'image', level: 1, seed: 7, split: 'test', imageSize: 48 },
    ] as SynthOptions[]) {
      const b = await page!.evaluate((opts) => (window as unknown as { run(o: unknown): Promise<Out> }).run(opts), o);
      const items = await generateSynth(o);
      expect(b.items).toBe(JSON.stringify(items.map((it) => ({ ...it, images: it.images.map((i) => i.name) }))));
      const node: string[] = [];
      for (const it of items) for (const im of it.images) node.push(Buffer.from(await im.load()).toString('base64'));
      expect(b.images.length).toBe(node.length);
      expect(b.images).toEqual(node);
      expect(b.decodedMatches.every(Boolean)).toBe(true);
    }
  });
});
