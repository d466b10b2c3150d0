// The browser path of decodeImage (createImageBitmap + OffscreenCanvas) in headless Chromium,
// compared with the Node path (jpeg-js / pngjs) on the same files.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { CHROMIUM, HAS_CHROMIUM, openModulePage } from '../helpers/browser-module';
import { decodeImage, type DecodeOptions } from '../../src/io/images';
import { DATA_DIR, HAS_DATA, pngFile, REPO, seeded } from '../data/helpers';

if (!HAS_CHROMIUM) console.warn(`[data tests] ${CHROMIUM} is absent: the browser image-decoding test is skipped`);

let page: Page | null = null;
let close: (() => Promise<void>) | null = null;

interface Out {
  width: number;
  height: number;
  srcWidth: number;
  srcHeight: number;
  data: number[];
}

async function inBrowser(bytes: Uint8Array, opts: DecodeOptions): Promise<Out> {
  return page!.evaluate(
    async ([b, o]) => {
      const w = window as unknown as { decode(b: Uint8Array, o: unknown): Promise<Out> };
      return w.decode(new Uint8Array(b as number[]), o);
    },
    [Array.from(bytes), opts] as const,
  );
}

describe.skipIf(!HAS_CHROMIUM)('image decoding in the browser (Chromium)', () => {
  beforeAll(async () => {
    ({ page, close } = await openModulePage(
      `import { decodeImage } from ${JSON.stringify(path.join(REPO, 'src/io/images.ts'))};
(window as any).decode = async (b: Uint8Array, o: any) => {
  try { const d = await decodeImage(b, o, 'page-image'); return { ...d, data: Array.from(d.data) }; }
  catch (e) { return { error: String((e as Error).message), name: (e as Error).name }; }
};`,
      'decode',
    ));
  });

  afterAll(async () => {
    await close?.();
  });

  it('PNG: the same pixels as in Node, resized the same', async () => {
    const r = seeded(77);
    const w = 23,
      h = 17;
    const file = pngFile(
      w,
      h,
      Uint8Array.from({ length: w * h * 4 }, (_, i) => (i % 4 === 3 ? 255 : Math.floor(r() * 256))),
    );
    for (const opts of [{ channels: 3 as const }, { width: 9, height: 30, channels: 1 as const }]) {
      const b = await inBrowser(file, opts);
      const n = await decodeImage(file, opts);
      expect([b.width, b.height, b.srcWidth, b.srcHeight]).toEqual([n.width, n.height, n.srcWidth, n.srcHeight]);
      let m = 0;
      for (let i = 0; i < n.data.length; i++) m = Math.max(m, Math.abs(b.data[i] - n.data[i]));
      expect(m).toBeLessThan(1e-6);
    }
  });

  it.skipIf(!HAS_DATA)("a real SLAKE JPEG: same size, pixels within JPEG decoder rounding of Node's", async () => {
    const file = new Uint8Array(await readFile(path.join(DATA_DIR, 'slake/imgs/xmlab0/source.jpg')));
    const opts = { width: 64, height: 64, channels: 1 as const };
    const b = await inBrowser(file, opts);
    const n = await decodeImage(file, opts);
    expect([b.srcWidth, b.srcHeight, b.width, b.height]).toEqual([256, 256, 64, 64]);
    let sum = 0,
      m = 0;
    for (let i = 0; i < n.data.length; i++) {
      const d = Math.abs(b.data[i] - n.data[i]);
      sum += d;
      m = Math.max(m, d);
    }
    expect(sum / n.data.length).toBeLessThan(2 / 255);
    expect(m).toBeLessThan(12 / 255);
  });

  it('a truncated JPEG is an InputError naming the image', async () => {
    const r = seeded(5);
    const jpeg = (await import('jpeg-js')).default;
    const rgba = Uint8Array.from({ length: 16 * 16 * 4 }, () => Math.floor(r() * 256));
    const file = new Uint8Array(jpeg.encode({ width: 16, height: 16, data: rgba }, 90).data).slice(0, 100);
    const out = (await inBrowser(file, {})) as unknown as { error: string; name: string };
    expect(out.name).toBe('InputError');
    expect(out.error).toMatch(/^page-image: cannot decode the JPEG image/);
  });
});
