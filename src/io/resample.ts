// Pillow's Image.resize, byte for byte, for 8-bit interleaved images. Hugging Face image processors
// resize through PIL (Idefics3 / SmolVLM with LANCZOS), so a model sees these exact bytes when it is
// trained or run in Python; this is the same arithmetic in TypeScript, for the browser and Node.
//
// Pillow's algorithm (libImaging/Resample.c): for each axis, precompute per output pixel a window of
// source pixels and the filter's weights over it (the filter's support widened by the downscale
// factor, so shrinking averages instead of aliasing), normalise the weights to sum 1, turn them into
// 22-bit fixed point, then run a horizontal pass and a vertical pass, each rounding and clipping to
// uint8. A pass is skipped when its axis keeps its size. NEAREST goes another way (an affine scale
// with a running source coordinate, libImaging/Geometry.c ImagingScaleAffine). Every step below
// follows the C code's order of floating-point operations so the integers come out the same.
//
// One known divergence: Pillow >= 12.2 resizes very tall images (height > 100 x width, shrinking
// height) in two separate calls, vertical first; this follows the single call of earlier versions.

export type ResampleFilter = 'nearest' | 'box' | 'bilinear' | 'hamming' | 'bicubic' | 'lanczos';

/** PIL's Image.Resampling numbers, as they appear in Hugging Face preprocessor_config.json `resample`. */
export const PIL_RESAMPLING: Readonly<Record<number, ResampleFilter>> = {
  0: 'nearest',
  1: 'lanczos',
  2: 'bilinear',
  3: 'bicubic',
  4: 'box',
  5: 'hamming',
};

interface Filter {
  fn: (x: number) => number;
  support: number;
}

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
}

// The float literals of Pillow's hamming filter (0.54f, 0.46f) are single precision.
const H054 = Math.fround(0.54);
const H046 = Math.fround(0.46);

const FILTERS: Record<Exclude<ResampleFilter, 'nearest'>, Filter> = {
  box: { support: 0.5, fn: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: {
    support: 1,
    fn: (x) => {
      const a = x < 0 ? -x : x;
      return a < 1 ? 1 - a : 0;
    },
  },
  hamming: {
    support: 1,
    fn: (x) => {
      const a = x < 0 ? -x : x;
      if (a === 0) return 1;
      if (a >= 1) return 0;
      const px = a * Math.PI;
      return (Math.sin(px) / px) * (H054 + H046 * Math.cos(px));
    },
  },
  bicubic: {
    support: 2,
    fn: (x) => {
      const a = -0.5;
      const t = x < 0 ? -x : x;
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
  lanczos: { support: 3, fn: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

/** 32 - 8 - 2: 8 bits of result, 2 bits of headroom for filters with negative lobes. */
const PRECISION_BITS = 22;
const HALF = 1 << (PRECISION_BITS - 1);

interface Coeffs {
  /** Weights per output pixel, `ksize` slots each, in PRECISION_BITS fixed point. */
  kk: Int32Array;
  /** Per output pixel: first source index and number of source pixels used. */
  bounds: Int32Array;
  ksize: number;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for a full-image box (in0 = 0, in1 = inSize). */
function coefficients(inSize: number, outSize: number, filter: Filter): Coeffs {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const kk = new Int32Array(outSize * ksize);
  const bounds = new Int32Array(outSize * 2);
  const w = new Float64Array(ksize);
  const inv = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    // (int) casts truncate toward zero; a negative start is clamped to 0 right after either way.
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const v = filter.fn((x + xmin - center + 0.5) * inv);
      w[x] = v;
      ww += v;
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? w[x]! / ww : w[x]!;
      kk[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS)) : Math.trunc(0.5 + v * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { kk, bounds, ksize };
}

function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return Math.min(255, Math.max(0, v));
}

function checkImage(src: Uint8Array, width: number, height: number, channels: number, newWidth: number, newHeight: number): void {
  for (const [name, v] of [
    ['width', width],
    ['height', height],
    ['newWidth', newWidth],
    ['newHeight', newHeight],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`resize: ${name} must be a positive integer, got ${v}`);
  }
  if (!Number.isInteger(channels) || channels < 1 || channels > 4) throw new RangeError(`resize: channels must be 1 to 4, got ${channels}`);
  if (src.length !== width * height * channels)
    throw new RangeError(`resize: ${width}x${height}x${channels} needs ${width * height * channels} bytes, got ${src.length}`);
}

/** Pillow's NEAREST: ImagingScaleAffine with a running (accumulated) source coordinate per axis. */
function nearestIndices(inSize: number, outSize: number): Int32Array {
  const a = inSize / outSize;
  const idx = new Int32Array(outSize).fill(-1);
  let o = a * 0.5;
  for (let x = 0; x < outSize; x++) {
    const i = o < 0 ? -1 : Math.trunc(o);
    if (i >= 0 && i < inSize) idx[x] = i;
    o += a;
  }
  return idx;
}

function resizeNearest(src: Uint8Array, width: number, height: number, c: number, newWidth: number, newHeight: number): Uint8Array {
  const out = new Uint8Array(newWidth * newHeight * c);
  const xs = nearestIndices(width, newWidth);
  const ys = nearestIndices(height, newHeight);
  for (let y = 0; y < newHeight; y++) {
    const sy = ys[y]!;
    if (sy < 0) continue;
    for (let x = 0; x < newWidth; x++) {
      const sx = xs[x]!;
      if (sx < 0) continue;
      const o = (y * newWidth + x) * c;
      const i = (sy * width + sx) * c;
      for (let ch = 0; ch < c; ch++) out[o + ch] = src[i + ch]!;
    }
  }
  return out;
}

/**
 * Resize an interleaved 8-bit image (1 to 4 channels, row-major HWC) exactly as Pillow's
 * `Image.resize((newWidth, newHeight), filter)` does for modes L and RGB: every channel is filtered
 * on its own. Four channels are resampled as they are (Pillow's RGBX / RGBa); an RGBA image with
 * real transparency goes through `resizeRgbaPil`, which premultiplies first as Pillow does.
 */
export function resizeRgb(
  src: Uint8Array,
  width: number,
  height: number,
  channels: number,
  newWidth: number,
  newHeight: number,
  filter: ResampleFilter,
): Uint8Array {
  checkImage(src, width, height, channels, newWidth, newHeight);
  if (width === newWidth && height === newHeight) return src.slice();
  const c = channels;
  if (filter === 'nearest') return resizeNearest(src, width, height, c, newWidth, newHeight);
  const f = FILTERS[filter];
  if (!f) throw new RangeError(`resize: unknown filter ${String(filter)}`);

  const vert = coefficients(height, newHeight, f);
  const needH = newWidth !== width;
  const needV = newHeight !== height;

  // Horizontal pass, over the source rows the vertical pass reads (all of them when it is skipped).
  let img = src;
  let rowOffset = 0;
  if (needH) {
    const first = needV ? vert.bounds[0]! : 0;
    const last = needV ? vert.bounds[(newHeight - 1) * 2]! + vert.bounds[(newHeight - 1) * 2 + 1]! : height;
    const { kk, bounds, ksize } = coefficients(width, newWidth, f);
    const rows = last - first;
    rowOffset = first;
    const tmp = new Uint8Array(newWidth * rows * c);
    for (let y = 0; y < rows; y++) {
      const inRow = (y + first) * width * c;
      const outRow = y * newWidth * c;
      for (let xx = 0; xx < newWidth; xx++) {
        const xmin = bounds[xx * 2]!;
        const xmax = bounds[xx * 2 + 1]!;
        const k0 = xx * ksize;
        for (let ch = 0; ch < c; ch++) {
          let ss = HALF;
          let p = inRow + xmin * c + ch;
          for (let x = 0; x < xmax; x++, p += c) ss += src[p]! * kk[k0 + x]!;
          tmp[outRow + xx * c + ch] = clip8(ss);
        }
      }
    }
    img = tmp;
  }
  if (!needV) return img;

  // Vertical pass.
  const w = needH ? newWidth : width;
  const out = new Uint8Array(w * newHeight * c);
  const { kk, bounds, ksize } = vert;
  const rowLen = w * c;
  for (let yy = 0; yy < newHeight; yy++) {
    const ymin = bounds[yy * 2]! - rowOffset;
    const ymax = bounds[yy * 2 + 1]!;
    const k0 = yy * ksize;
    const outRow = yy * rowLen;
    for (let i = 0; i < rowLen; i++) {
      let ss = HALF;
      let p = ymin * rowLen + i;
      for (let y = 0; y < ymax; y++, p += rowLen) ss += img[p]! * kk[k0 + y]!;
      out[outRow + i] = clip8(ss);
    }
  }
  return out;
}

/** (a * b + 127) / 255 as Pillow computes it (MULDIV255). */
function mulDiv255(a: number, b: number): number {
  const t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

/** Pillow's RGBA -> RGBa conversion: colour channels multiplied by alpha / 255. */
export function premultiplyRgba(rgba: Uint8Array): Uint8Array {
  const out = new Uint8Array(rgba.length);
  for (let i = 0; i < rgba.length; i += 4) {
    const a = rgba[i + 3]!;
    out[i] = mulDiv255(rgba[i]!, a);
    out[i + 1] = mulDiv255(rgba[i + 1]!, a);
    out[i + 2] = mulDiv255(rgba[i + 2]!, a);
    out[i + 3] = a;
  }
  return out;
}

/** Pillow's RGBa -> RGBA conversion: colour channels divided by alpha / 255 (truncating, clipped). */
export function unpremultiplyRgba(rgba: Uint8Array): Uint8Array {
  const out = new Uint8Array(rgba.length);
  for (let i = 0; i < rgba.length; i += 4) {
    const a = rgba[i + 3]!;
    for (let ch = 0; ch < 3; ch++) {
      const v = rgba[i + ch]!;
      out[i + ch] = a === 255 || a === 0 ? v : Math.min(255, Math.trunc((255 * v) / a));
    }
    out[i + 3] = a;
  }
  return out;
}

/**
 * Pillow's `Image.resize` of an RGBA image: for every filter but NEAREST it converts to
 * premultiplied RGBa, resizes, and converts back, so transparent pixels do not bleed colour.
 */
export function resizeRgbaPil(src: Uint8Array, width: number, height: number, newWidth: number, newHeight: number, filter: ResampleFilter): Uint8Array {
  checkImage(src, width, height, 4, newWidth, newHeight);
  if (width === newWidth && height === newHeight) return src.slice();
  if (filter === 'nearest') return resizeRgb(src, width, height, 4, newWidth, newHeight, filter);
  return unpremultiplyRgba(resizeRgb(premultiplyRgba(src), width, height, 4, newWidth, newHeight, filter));
}
