// JPEG/PNG bytes -> float pixels at the model's input size. Decoding is the platform's job (the
// browser's own decoder via createImageBitmap, or jpeg-js / pngjs in Node); the resize is ours and
// the same code in both, so a model sees the same pixels in the browser and in a headless run up to
// the decoders' rounding.

import { InputError } from '../engine/errors';

export type ImageFormat = 'jpeg' | 'png';

/** Decoded 8-bit RGBA at the file's own size. */
export interface RgbaImage {
  width: number;
  height: number;
  rgba: Uint8Array | Uint8ClampedArray;
}

export interface DecodedImage {
  width: number;
  height: number;
  channels: 1 | 3;
  /** Row-major, channels interleaved (HWC), values in [0, 1]. */
  data: Float32Array;
  /** Size of the image in its file. */
  srcWidth: number;
  srcHeight: number;
}

export type Resample = 'area' | 'bilinear' | 'auto';

export interface DecodeOptions {
  /** Output size; when omitted the file's own size is kept. */
  width?: number;
  height?: number;
  /** 1: luma (ITU-R BT.601 weights), 3: RGB. Default 3. */
  channels?: 1 | 3;
  /** 'area' averages the covered source pixels (right for shrinking), 'bilinear' interpolates
   * between the nearest four (right for enlarging), 'auto' (default) picks per axis. */
  resample?: Resample;
}

export function imageFormat(bytes: Uint8Array): ImageFormat | null {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (
    bytes.length >= 8 &&
    bytes[0] === 0x89 &&
    bytes[1] === 0x50 &&
    bytes[2] === 0x4e &&
    bytes[3] === 0x47 &&
    bytes[4] === 0x0d &&
    bytes[5] === 0x0a &&
    bytes[6] === 0x1a &&
    bytes[7] === 0x0a
  )
    return 'png';
  return null;
}

const inBrowser = () =>
  typeof (globalThis as { createImageBitmap?: unknown }).createImageBitmap === 'function' &&
  typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas === 'function';

/**
 * Pixels an image may have: far above any scan a question is asked about, and what keeps a header
 * claiming 30000 x 30000 (a few bytes of file) from taking gigabytes before it is found out.
 */
export const MAX_IMAGE_PIXELS = 50_000_000;

/** Width and height from a PNG's IHDR chunk, or null when the header is not there. */
function pngSize(bytes: Uint8Array): { width: number; height: number } | null {
  if (bytes.length < 24 || String.fromCharCode(...bytes.subarray(12, 16)) !== 'IHDR') return null;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: dv.getUint32(16), height: dv.getUint32(20) };
}

/** Decode to RGBA at the file's size, with whichever decoder this environment has. */
export async function decodeRgba(bytes: Uint8Array, where = 'image'): Promise<RgbaImage> {
  const format = imageFormat(bytes);
  if (!format) throw new InputError(where, 'is not a JPEG or PNG image');
  const size = format === 'png' ? pngSize(bytes) : null;
  if (size && size.width * size.height > MAX_IMAGE_PIXELS) {
    throw new InputError(where, `the PNG header says ${size.width} x ${size.height} pixels, above the limit of ${MAX_IMAGE_PIXELS / 1e6} megapixels`);
  }
  const img = inBrowser() ? await decodeInBrowser(bytes, format, where) : (await import('./images-node')).decodeRgbaNode(bytes, format, where);
  if (img.width * img.height > MAX_IMAGE_PIXELS)
    throw new InputError(where, `${img.width} x ${img.height} pixels is above the limit of ${MAX_IMAGE_PIXELS / 1e6} megapixels`);
  if (img.width < 1 || img.height < 1) throw new InputError(where, `has no pixels (${img.width} x ${img.height})`);
  return img;
}

async function decodeInBrowser(bytes: Uint8Array, format: ImageFormat, where: string): Promise<RgbaImage> {
  let bitmap: ImageBitmap;
  try {
    const blob = new Blob([bytes as Uint8Array<ArrayBuffer>], { type: format === 'jpeg' ? 'image/jpeg' : 'image/png' });
    // No colour management or alpha premultiplication, so the values are the file's, as in Node.
    bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch (e) {
    throw new InputError(where, `cannot decode the ${format.toUpperCase()} image: ${(e as Error).message || 'corrupt or truncated'}`);
  }
  try {
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    if (!ctx) throw new InputError(where, 'no 2D canvas context to read the decoded pixels');
    ctx.drawImage(bitmap, 0, 0);
    const img = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
    return { width: img.width, height: img.height, rgba: img.data };
  } finally {
    bitmap.close();
  }
}

/** Per-axis filter taps: for each output index, source indices and weights summing to 1. */
export interface AxisTaps {
  start: Int32Array;
  count: Int32Array;
  index: Int32Array;
  weight: Float32Array;
}

export function axisTaps(src: number, dst: number, mode: 'area' | 'bilinear'): AxisTaps {
  const idx: number[] = [];
  const w: number[] = [];
  const start = new Int32Array(dst);
  const count = new Int32Array(dst);
  const scale = src / dst;
  for (let i = 0; i < dst; i++) {
    start[i] = idx.length;
    if (mode === 'area') {
      const a = i * scale;
      const b = (i + 1) * scale;
      for (let j = Math.floor(a); j < Math.min(src, Math.ceil(b)); j++) {
        const overlap = Math.min(b, j + 1) - Math.max(a, j);
        if (overlap > 0) {
          idx.push(j);
          w.push(overlap / scale);
        }
      }
    } else {
      // Pixel centres at half-integers (align_corners = false), clamped at the border.
      const x = Math.min(Math.max((i + 0.5) * scale - 0.5, 0), src - 1);
      const j0 = Math.floor(x);
      const t = x - j0;
      idx.push(j0);
      w.push(1 - t);
      if (t > 0) {
        idx.push(Math.min(j0 + 1, src - 1));
        w.push(t);
      }
    }
    count[i] = idx.length - start[i];
  }
  return { start, count, index: Int32Array.from(idx), weight: Float32Array.from(w) };
}

/** Resize an HWC float image with separable taps (rows first, then columns). */
export function resizeImage(src: Float32Array, sw: number, sh: number, c: number, dw: number, dh: number, resample: Resample = 'auto'): Float32Array {
  if (sw === dw && sh === dh) return src.slice();
  const pick = (s: number, d: number): 'area' | 'bilinear' => (resample === 'auto' ? (d < s ? 'area' : 'bilinear') : resample);
  const tx = axisTaps(sw, dw, pick(sw, dw));
  const ty = axisTaps(sh, dh, pick(sh, dh));
  const mid = new Float32Array(sh * dw * c);
  for (let y = 0; y < sh; y++) {
    for (let x = 0; x < dw; x++) {
      for (let k = 0; k < c; k++) {
        let acc = 0;
        for (let t = tx.start[x], e = t + tx.count[x]; t < e; t++) acc += tx.weight[t] * src[(y * sw + tx.index[t]) * c + k];
        mid[(y * dw + x) * c + k] = acc;
      }
    }
  }
  const out = new Float32Array(dh * dw * c);
  for (let y = 0; y < dh; y++) {
    for (let t = ty.start[y], e = t + ty.count[y]; t < e; t++) {
      const wgt = ty.weight[t];
      const row = ty.index[t] * dw * c;
      const o = y * dw * c;
      for (let i = 0; i < dw * c; i++) out[o + i] += wgt * mid[row + i];
    }
  }
  return out;
}

/** RGBA bytes -> float RGB or luma in [0, 1]; alpha is dropped (medical images are opaque). */
export function rgbaToFloat(img: RgbaImage, channels: 1 | 3): Float32Array {
  const n = img.width * img.height;
  const out = new Float32Array(n * channels);
  const p = img.rgba;
  for (let i = 0; i < n; i++) {
    const r = p[4 * i],
      g = p[4 * i + 1],
      b = p[4 * i + 2];
    if (channels === 1) out[i] = (0.299 * r + 0.587 * g + 0.114 * b) / 255;
    else {
      out[3 * i] = r / 255;
      out[3 * i + 1] = g / 255;
      out[3 * i + 2] = b / 255;
    }
  }
  return out;
}

/** Decode a JPEG or PNG and resize it to the requested size, as float pixels in [0, 1]. */
export async function decodeImage(bytes: Uint8Array, opts: DecodeOptions = {}, where = 'image'): Promise<DecodedImage> {
  const channels = opts.channels ?? 3;
  const rgba = await decodeRgba(bytes, where);
  const width = opts.width ?? rgba.width;
  const height = opts.height ?? rgba.height;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new InputError(where, `cannot resize to ${width}x${height}: the size must be positive integers`);
  }
  const full = rgbaToFloat(rgba, channels);
  const data = resizeImage(full, rgba.width, rgba.height, channels, width, height, opts.resample);
  return { width, height, channels, data, srcWidth: rgba.width, srcHeight: rgba.height };
}
