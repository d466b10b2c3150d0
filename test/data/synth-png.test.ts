// The synth curriculum's own PNG writer, checked against independent decoders: pngjs, Node's
// zlib, and the lab's image pipeline.

import { describe, expect, it } from 'vitest';
import { inflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { adler32, crc32, encodeGrayPng, zlibStored } from '../../src/data/synth/png';
import { decodeImage } from '../../src/io/images';
import { Rng } from '../../src/data/synth/rng';

const bytes = (s: string) => new TextEncoder().encode(s);

function noise(n: number, seed: number): Uint8Array {
  const r = new Rng(seed);
  return Uint8Array.from({ length: n }, () => r.int(0, 255));
}

describe('synth PNG writer', () => {
  it('CRC-32 and Adler-32 give the published check values', () => {
    expect(crc32(bytes('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(adler32(bytes('Wikipedia'))).toBe(0x11e60398);
    expect(adler32(new Uint8Array(0))).toBe(1);
    // Past zlib's 5552-byte reduction block, against a byte-at-a-time reference.
    const big = noise(20000, 1);
    let a = 1,
      b = 0;
    for (const x of big) {
      a = (a + x) % 65521;
      b = (b + a) % 65521;
    }
    expect(adler32(big)).toBe(((b << 16) | a) >>> 0);
  });

  it('stored-block zlib streams inflate back with Node zlib, across the 65535-byte block limit', () => {
    for (const n of [0, 1, 65535, 65536, 200_000]) {
      const data = noise(n, n + 3);
      expect(inflateSync(zlibStored(data)).equals(Buffer.from(data))).toBe(true);
    }
  });

  it('pngjs decodes it to the same pixels at the declared size (several sizes, multi-block)', () => {
    for (const [w, h] of [
      [1, 1],
      [7, 3],
      [32, 32],
      [128, 128],
      [300, 300],
    ]) {
      const px = noise(w * h, w * 1000 + h);
      const png = PNG.sync.read(Buffer.from(encodeGrayPng(px, w, h)));
      expect([png.width, png.height]).toEqual([w, h]);
      // A grayscale PNG decodes to RGBA with equal channels and opaque alpha.
      let bad = 0;
      for (let i = 0; i < w * h; i++) {
        const [r, g, bl, al] = png.data.subarray(4 * i, 4 * i + 4);
        if (r !== px[i] || g !== px[i] || bl !== px[i] || al !== 255) bad++;
      }
      expect(bad).toBe(0);
    }
  });

  it('the lab image pipeline reads it as one-channel pixels / 255', async () => {
    const px = noise(24 * 24, 9);
    const img = await decodeImage(encodeGrayPng(px, 24, 24), { channels: 1 }, 'synth.png');
    expect([img.width, img.height, img.channels]).toEqual([24, 24, 1]);
    for (let i = 0; i < px.length; i++) expect(img.data[i]).toBeCloseTo(px[i] / 255, 6);
  });

  it('rejects a size that does not match the pixels', () => {
    expect(() => encodeGrayPng(new Uint8Array(10), 3, 3)).toThrow(/needs 9 pixels, got 10/);
    expect(() => encodeGrayPng(new Uint8Array(0), 0, 0)).toThrow(/positive integers/);
  });
});
