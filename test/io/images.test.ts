import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import jpeg from 'jpeg-js';
import { decodeImage, imageFormat, resizeImage } from '../../src/io/images';
import { InputError } from '../../src/engine/errors';
import { crc32, DATA_DIR, HAS_DATA, jpegSize, NO_DATA_MESSAGE, pngFile, seeded } from '../data/helpers';

// Float64 reference: every output pixel as a 2D sum over all source pixels of a separable kernel,
// written as the continuous box (area) and tent (bilinear) functions rather than tap lists.
function areaK(o: number, i: number, src: number, dst: number) {
  const s = src / dst;
  return Math.max(0, Math.min((o + 1) * s, i + 1) - Math.max(o * s, i)) / s;
}
function tentK(o: number, i: number, src: number, dst: number) {
  const x = Math.min(Math.max((o + 0.5) * (src / dst) - 0.5, 0), src - 1);
  return Math.max(0, 1 - Math.abs(x - i));
}
function refResize(src: Float32Array, sw: number, sh: number, c: number, dw: number, dh: number, mode: 'area' | 'bilinear' | 'auto') {
  const kx = mode === 'area' || (mode === 'auto' && dw < sw) ? areaK : tentK;
  const ky = mode === 'area' || (mode === 'auto' && dh < sh) ? areaK : tentK;
  const out = new Float64Array(dw * dh * c);
  for (let y = 0; y < dh; y++)
    for (let x = 0; x < dw; x++)
      for (let k = 0; k < c; k++) {
        let acc = 0;
        for (let j = 0; j < sh; j++) {
          const wy = ky(y, j, sh, dh);
          if (wy === 0) continue;
          for (let i = 0; i < sw; i++) acc += wy * kx(x, i, sw, dw) * src[(j * sw + i) * c + k];
        }
        out[(y * dw + x) * c + k] = acc;
      }
  return out;
}

function maxErr(a: ArrayLike<number>, b: ArrayLike<number>) {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('image resize', () => {
  const cases: [number, number, number, number, number, 'area' | 'bilinear' | 'auto'][] = [
    [37, 23, 1, 10, 7, 'area'],
    [13, 11, 3, 29, 17, 'bilinear'],
    [50, 9, 3, 12, 20, 'auto'],
    [17, 19, 1, 17, 5, 'auto'],
    [9, 7, 3, 31, 3, 'area'],
    [31, 3, 1, 9, 7, 'bilinear'],
  ];
  for (const [sw, sh, c, dw, dh, mode] of cases) {
    it(`${sw}x${sh}x${c} -> ${dw}x${dh} (${mode}) matches the float64 reference`, () => {
      const r = seeded(sw * 1000 + dw);
      const src = Float32Array.from({ length: sw * sh * c }, r);
      const got = resizeImage(src, sw, sh, c, dw, dh, mode);
      expect(maxErr(got, refResize(src, sw, sh, c, dw, dh, mode))).toBeLessThan(2e-6);
    });
  }

  it('keeps a constant image constant and the same size unchanged', () => {
    const src = new Float32Array(23 * 14).fill(0.37);
    for (const v of resizeImage(src, 23, 14, 1, 8, 31, 'auto')) expect(v).toBeCloseTo(0.37, 6);
    const r = seeded(5);
    const s2 = Float32Array.from({ length: 6 * 4 * 3 }, r);
    expect(Array.from(resizeImage(s2, 6, 4, 3, 6, 4))).toEqual(Array.from(s2));
  });
});

describe('image decoding (Node: jpeg-js, pngjs)', () => {
  it('PNG pixels come back exactly, as RGB and as BT.601 luma', async () => {
    const w = 7,
      h = 5;
    const r = seeded(11);
    const rgba = Uint8Array.from({ length: w * h * 4 }, (_, i) => (i % 4 === 3 ? 255 : Math.floor(r() * 256)));
    const file = pngFile(w, h, rgba);
    expect(imageFormat(file)).toBe('png');
    const rgb = await decodeImage(file, { channels: 3 });
    expect([rgb.width, rgb.height, rgb.srcWidth, rgb.srcHeight, rgb.channels]).toEqual([7, 5, 7, 5, 3]);
    const wantRgb = Array.from({ length: w * h * 3 }, (_, i) => rgba[Math.floor(i / 3) * 4 + (i % 3)] / 255);
    expect(maxErr(rgb.data, wantRgb)).toBeLessThan(1e-7);
    const grey = await decodeImage(file, { channels: 1 });
    const wantGrey = Array.from({ length: w * h }, (_, p) => (0.299 * rgba[4 * p] + 0.587 * rgba[4 * p + 1] + 0.114 * rgba[4 * p + 2]) / 255);
    expect(maxErr(grey.data, wantGrey)).toBeLessThan(1e-6);
  });

  it('PNG resized equals the reference resize of its pixels', async () => {
    const w = 19,
      h = 13;
    const r = seeded(12);
    const rgba = Uint8Array.from({ length: w * h * 4 }, (_, i) => (i % 4 === 3 ? 255 : Math.floor(r() * 256)));
    const got = await decodeImage(pngFile(w, h, rgba), { width: 6, height: 10, channels: 3 });
    const full = Float32Array.from({ length: w * h * 3 }, (_, i) => rgba[Math.floor(i / 3) * 4 + (i % 3)] / 255);
    expect(maxErr(got.data, refResize(full, w, h, 3, 6, 10, 'auto'))).toBeLessThan(2e-6);
  });

  it('JPEG (encoded by jpeg-js at quality 100) decodes close to its source', async () => {
    const w = 24,
      h = 16;
    const rgba = new Uint8Array(w * h * 4);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const p = 4 * (y * w + x);
        rgba[p] = 10 * x;
        rgba[p + 1] = 15 * y;
        rgba[p + 2] = 128;
        rgba[p + 3] = 255;
      }
    const file = new Uint8Array(jpeg.encode({ width: w, height: h, data: rgba }, 100).data);
    expect(imageFormat(file)).toBe('jpeg');
    const img = await decodeImage(file, { channels: 3 });
    const want = Array.from({ length: w * h * 3 }, (_, i) => rgba[Math.floor(i / 3) * 4 + (i % 3)] / 255);
    expect(maxErr(img.data, want)).toBeLessThan(0.04);
  });

  it('bad images are InputErrors that name the image', async () => {
    const r = seeded(3);
    const w = 16,
      h = 16;
    const rgba = Uint8Array.from({ length: w * h * 4 }, () => Math.floor(r() * 256));
    const jpg = new Uint8Array(jpeg.encode({ width: w, height: h, data: rgba }, 90).data);
    await expect(decodeImage(jpg.slice(0, Math.floor(jpg.length / 2)), {}, 'half.jpg')).rejects.toThrow(/^half\.jpg: cannot decode the JPEG image/);
    const png = pngFile(w, h, rgba);
    const broken = png.slice();
    for (let i = 60; i < 80; i++) broken[i] ^= 0x5a;
    await expect(decodeImage(broken, {}, 'broken.png')).rejects.toThrow(/^broken\.png: cannot decode the PNG image/);
    await expect(decodeImage(new TextEncoder().encode('not an image at all'), {}, 'x.jpg')).rejects.toThrow(InputError);
    await expect(decodeImage(new Uint8Array(0), {}, 'empty.png')).rejects.toThrow(/not a JPEG or PNG/);
    await expect(decodeImage(png, { width: 0, height: 4 }, 'p.png')).rejects.toThrow(/positive integers/);
  });

  it('a header claiming a huge image is refused before anything is allocated', async () => {
    // 82 bytes whose IHDR says 30000 x 30000 (CRC fixed up): pngjs alone decoded it, taking 14 GB.
    const png = Buffer.from(pngFile(4, 4, new Uint8Array(64).fill(128)));
    png.writeUInt32BE(30000, 16);
    png.writeUInt32BE(30000, 20);
    png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
    const before = process.memoryUsage().rss;
    await expect(decodeImage(new Uint8Array(png), { width: 8, height: 8 }, 'bomb.png')).rejects.toThrow(
      /^bomb\.png: the PNG header says 30000 x 30000 pixels, above the limit of 50 megapixels/,
    );
    expect(process.memoryUsage().rss - before).toBeLessThan(100e6);
  });
});

describe.skipIf(!HAS_DATA)(`real radiology images (${HAS_DATA ? DATA_DIR : NO_DATA_MESSAGE})`, () => {
  it('a VQA-RAD chest X-ray decodes at its JPEG size and resizes to 224x224', async () => {
    const bytes = new Uint8Array(await readFile(path.join(DATA_DIR, 'vqa-rad/images/synpic100132.jpg')));
    const size = jpegSize(bytes);
    expect(size).toEqual({ width: 2321, height: 1384 });
    const img = await decodeImage(bytes, { width: 224, height: 224, channels: 1 });
    expect([img.srcWidth, img.srcHeight, img.width, img.height, img.data.length]).toEqual([2321, 1384, 224, 224, 224 * 224]);
    let lo = Infinity,
      hi = -Infinity,
      sum = 0;
    for (const v of img.data) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
      sum += v;
    }
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThanOrEqual(1);
    expect(hi - lo).toBeGreaterThan(0.5);
    expect(sum / img.data.length).toBeGreaterThan(0.05);
  });

  it('a SLAKE CT slice: 256x256, and area-halving equals 2x2 block means of the full decode', async () => {
    const bytes = new Uint8Array(await readFile(path.join(DATA_DIR, 'slake/imgs/xmlab0/source.jpg')));
    expect(jpegSize(bytes)).toEqual({ width: 256, height: 256 });
    const full = await decodeImage(bytes, { channels: 3 });
    const half = await decodeImage(bytes, { width: 128, height: 128, channels: 3 });
    const want = new Float64Array(128 * 128 * 3);
    for (let y = 0; y < 128; y++)
      for (let x = 0; x < 128; x++)
        for (let k = 0; k < 3; k++) {
          const at = (yy: number, xx: number) => full.data[(yy * 256 + xx) * 3 + k];
          want[(y * 128 + x) * 3 + k] = (at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1)) / 4;
        }
    expect(maxErr(half.data, want)).toBeLessThan(1e-6);
  });
});
