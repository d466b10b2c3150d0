// The synth curriculum generated in a browser (headless Chromium) is byte-identical to Node's:
// same items, hashes and PNG bytes from the same seed, and the browser's own PNG decoder reads
// the scans back to the rendered pixels.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { CHROMIUM, HAS_CHROMIUM, openModulePage } from '../helpers/browser-module';
import { generateSynth, type SynthOptions } from '../../src/data/synth';
import { REPO } from './helpers';

if (!HAS_CHROMIUM) console.warn(`[data tests] ${CHROMIUM} is absent: the browser synth test is skipped`);

interface Out {
  items: string;
  images: string[];
  decodedMatches: boolean[];
}

let page: Page | null = null;
let close: (() => Promise<void>) | null = null;

describe.skipIf(!HAS_CHROMIUM)('synth in the browser (Chromium)', () => {
  beforeAll(async () => {
    ({ page, close } = await openModulePage(
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
      'run',
    ));
  });

  afterAll(async () => {
    await close?.();
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
