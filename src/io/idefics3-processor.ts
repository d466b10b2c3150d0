// The SmolVLM / Idefics3 image processor and image prompt, as Hugging Face transformers computes
// them (Idefics3ImageProcessor, the PIL-based processor of transformers 4.4x-4.5x that SmolVLM was
// trained with, and Idefics3Processor). Same sizes, same tile order, same uint8 pixels (through
// ./resample, a port of Pillow's resize), same float32 rescale and normalisation, same prompt text.
//
// HF's order of operations for one image:
//   1. do_resize: the longest edge goes to size.longest_edge, up or down (small images are enlarged),
//      the other edge int(...)-truncated and bumped to even; then both capped at 4096.
//   2. do_image_splitting: each side rounded up to a multiple of S = max_image_size.longest_edge
//      (the short side derived from the rounded long side first), resized to that; if it is larger
//      than S x S it is cut into (h/S) x (w/S) tiles, row-major, and the whole image resized to
//      S x S is appended last; an S x S image stays one tile with rows = cols = 0.
//      Without splitting the image is resized to S x S, rows = cols = 0.
//   3. do_convert_rgb: each tile is composited over white (PIL RGBA -> alpha_composite -> RGB).
//   4. do_rescale: float64 multiply by rescale_factor, stored as float32.
//   5. do_normalize: (x - mean) / std in float32.
// Every resize goes through PIL with `resample` (LANCZOS for SmolVLM). Two HF quirks for inputs
// that are not RGB, kept here: a one-channel image is handed to PIL as mode "P", which PIL always
// resizes with NEAREST; a four-channel image is resized as RGBA, which PIL does premultiplied.
// The RGB conversion comes after the resizes, so transparency is flattened onto white last.

import { InputError } from '../engine/errors';
import { PIL_RESAMPLING, resizeRgb, resizeRgbaPil, type ResampleFilter } from './resample';

/** HF's MAX_IMAGE_SIZE: no resized image edge goes above this ("4k resolution as absolute maximum"). */
export const IDEFICS3_MAX_IMAGE_SIZE = 4096;
/** Idefics3Processor's default number of `<image>` tokens per tile when processor_config.json has none. */
export const IDEFICS3_DEFAULT_IMAGE_SEQ_LEN = 169;

export type Idefics3Size = { longestEdge: number } | { height: number; width: number };

export interface Idefics3ProcessorConfig {
  doConvertRgb: boolean;
  doResize: boolean;
  /** `size`: resize target of step 1 (HF also takes an exact height and width). */
  size: Idefics3Size;
  resample: ResampleFilter;
  doImageSplitting: boolean;
  /** `max_image_size.longest_edge`: the side S of every tile and of the global image. */
  maxImageSize: number;
  doRescale: boolean;
  rescaleFactor: number;
  doNormalize: boolean;
  imageMean: [number, number, number];
  imageStd: [number, number, number];
  /** Batch padding to the most tiles in the batch; one image's tiles are never padded. */
  doPad: boolean;
  /** From processor_config.json: `<image>` tokens per tile in the prompt. */
  imageSeqLen: number;
}

/** Idefics3ImageProcessor's constructor defaults (an Idefics3-8B setup, not SmolVLM's). */
export const IDEFICS3_DEFAULTS: Readonly<Idefics3ProcessorConfig> = Object.freeze<Idefics3ProcessorConfig>({
  doConvertRgb: true,
  doResize: true,
  size: { longestEdge: 4 * 364 },
  resample: 'lanczos',
  doImageSplitting: true,
  maxImageSize: 364,
  doRescale: true,
  rescaleFactor: 1 / 255,
  doNormalize: true,
  imageMean: [0.5, 0.5, 0.5],
  imageStd: [0.5, 0.5, 0.5],
  doPad: true,
  imageSeqLen: IDEFICS3_DEFAULT_IMAGE_SEQ_LEN,
});

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const show = (v: unknown) => JSON.stringify(v) ?? String(v);
const present = (json: Json, k: string) => json[k] !== undefined && json[k] !== null;

function bool(json: Json, k: string, def: boolean, where: string): boolean {
  if (!present(json, k)) return def;
  const v = json[k];
  if (typeof v !== 'boolean') throw new InputError(where, `${k} must be true or false, got ${show(v)}`);
  return v;
}

function posInt(v: unknown, key: string, where: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new InputError(where, `${key} must be a positive integer, got ${show(v)}`);
  return v;
}

function triple(json: Json, k: string, def: readonly number[], where: string, nonzero: boolean): [number, number, number] {
  if (!present(json, k)) return [def[0]!, def[1]!, def[2]!];
  const v = json[k];
  const list = typeof v === 'number' ? [v, v, v] : v;
  const ok = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && (!nonzero || x !== 0);
  if (!Array.isArray(list) || list.length !== 3 || !list.every(ok))
    throw new InputError(where, `${k} must be a number or a list of 3 ${nonzero ? 'non-zero ' : ''}numbers (one per RGB channel), got ${show(v)}`);
  return [list[0], list[1], list[2]];
}

function resampleOf(json: Json, where: string): ResampleFilter {
  if (!present(json, 'resample')) return IDEFICS3_DEFAULTS.resample;
  const v = json.resample;
  if (typeof v === 'number' && PIL_RESAMPLING[v]) return PIL_RESAMPLING[v];
  if (typeof v === 'string') {
    const name = v.toLowerCase();
    const hit = Object.values(PIL_RESAMPLING).find((f) => f === name);
    if (hit) return hit;
  }
  const known = Object.entries(PIL_RESAMPLING)
    .map(([n, f]) => `${n} (${f})`)
    .join(', ');
  throw new InputError(where, `resample must be one of PIL's filters ${known}, got ${show(v)}`);
}

/**
 * The processor settings from a model's preprocessor_config.json and, when given, its
 * processor_config.json (for `image_seq_len`). Absent keys take Idefics3ImageProcessor's defaults;
 * a present key of the wrong type or range is an InputError naming it.
 */
export function idefics3ProcessorFromJson(
  json: unknown,
  where: string,
  processorJson?: unknown,
  processorWhere = 'processor_config.json',
): Idefics3ProcessorConfig {
  if (!isObj(json)) throw new InputError(where, 'preprocessor config must be a JSON object');
  const d = IDEFICS3_DEFAULTS;

  let size: Idefics3Size = { ...d.size };
  if (present(json, 'size')) {
    const s = json.size;
    if (!isObj(s)) throw new InputError(where, `size must be an object with longest_edge, got ${show(s)}`);
    if (present(s, 'longest_edge')) size = { longestEdge: posInt(s.longest_edge, 'size.longest_edge', where) };
    else if (present(s, 'height') && present(s, 'width'))
      size = { height: posInt(s.height, 'size.height', where), width: posInt(s.width, 'size.width', where) };
    else throw new InputError(where, `size must have longest_edge (or height and width), got ${show(s)}`);
  }

  let maxImageSize = d.maxImageSize;
  if (present(json, 'max_image_size')) {
    const m = json.max_image_size;
    if (!isObj(m) || !present(m, 'longest_edge')) throw new InputError(where, `max_image_size must be an object with longest_edge, got ${show(m)}`);
    maxImageSize = posInt(m.longest_edge, 'max_image_size.longest_edge', where);
  }

  let rescaleFactor = d.rescaleFactor;
  if (present(json, 'rescale_factor')) {
    const r = json.rescale_factor;
    if (typeof r !== 'number' || !Number.isFinite(r) || r <= 0) throw new InputError(where, `rescale_factor must be a positive number, got ${show(r)}`);
    rescaleFactor = r;
  }

  let imageSeqLen = d.imageSeqLen;
  if (processorJson !== undefined && processorJson !== null) {
    if (!isObj(processorJson)) throw new InputError(processorWhere, 'processor config must be a JSON object');
    if (present(processorJson, 'image_seq_len')) imageSeqLen = posInt(processorJson.image_seq_len, 'image_seq_len', processorWhere);
  }

  return {
    doConvertRgb: bool(json, 'do_convert_rgb', d.doConvertRgb, where),
    doResize: bool(json, 'do_resize', d.doResize, where),
    size,
    resample: resampleOf(json, where),
    doImageSplitting: bool(json, 'do_image_splitting', d.doImageSplitting, where),
    maxImageSize,
    doRescale: bool(json, 'do_rescale', d.doRescale, where),
    rescaleFactor,
    doNormalize: bool(json, 'do_normalize', d.doNormalize, where),
    imageMean: triple(json, 'image_mean', d.imageMean, where, false),
    imageStd: triple(json, 'image_std', d.imageStd, where, true),
    doPad: bool(json, 'do_pad', d.doPad, where),
    imageSeqLen,
  };
}

// ---- sizes ----------------------------------------------------------------------------------

/** HF get_resize_output_image_size: longest edge to `longestEdge` (even short side), then capped at 4096. */
export function idefics3ResizeSize(height: number, width: number, longestEdge: number): { height: number; width: number } {
  let h = height;
  let w = width;
  let aspect = w / h;
  if (w >= h) {
    w = longestEdge;
    h = Math.trunc(w / aspect);
    if (h % 2 !== 0) h += 1;
  } else {
    h = longestEdge;
    w = Math.trunc(h * aspect);
    if (w % 2 !== 0) w += 1;
  }
  h = Math.max(h, 1);
  w = Math.max(w, 1);
  // _resize_output_size_scale_below_upper_bound(MAX_IMAGE_SIZE)
  aspect = w / h;
  if (w >= h && w > IDEFICS3_MAX_IMAGE_SIZE) {
    w = IDEFICS3_MAX_IMAGE_SIZE;
    h = Math.trunc(w / aspect);
  } else if (h > w && h > IDEFICS3_MAX_IMAGE_SIZE) {
    h = IDEFICS3_MAX_IMAGE_SIZE;
    w = Math.trunc(h * aspect);
  }
  return { height: Math.max(h, 1), width: Math.max(w, 1) };
}

/** HF resize_for_vision_encoder: both sides up to multiples of `tile`, the short one derived from the rounded long one. */
export function idefics3SplitSize(height: number, width: number, tile: number): { height: number; width: number } {
  const aspect = width / height;
  let h: number;
  let w: number;
  if (width >= height) {
    w = Math.ceil(width / tile) * tile;
    h = Math.ceil(Math.trunc(w / aspect) / tile) * tile;
  } else {
    h = Math.ceil(height / tile) * tile;
    w = Math.ceil(Math.trunc(h * aspect) / tile) * tile;
  }
  return { height: h, width: w };
}

// ---- pixels ---------------------------------------------------------------------------------

export interface Idefics3Image {
  /** Row-major, channels interleaved (HWC), 8 bits per channel. */
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

export interface Idefics3Pixels {
  /** [count, 3, size, size], channels first: the tiles row-major, then the global image. */
  tiles: Float32Array;
  /** Tile rows and columns; 0 and 0 when the image is one tile (no splitting, or small enough). */
  rows: number;
  cols: number;
  /** S, the side of every tile. */
  size: number;
  /** Number of tiles: rows * cols + 1 when split, else 1. */
  count: number;
}

interface U8Image {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/** One HF `self.resize(...)`: numpy -> PIL (mode P for one channel, RGB, RGBA) -> Image.resize -> numpy. */
function pilResize(img: U8Image, width: number, height: number, filter: ResampleFilter, where: string): U8Image {
  if (width < 1 || height < 1) throw new InputError(where, `cannot be resized to ${width}x${height} (PIL needs both sides > 0)`);
  let data: Uint8Array;
  if (img.channels === 1) data = resizeRgb(img.data, img.width, img.height, 1, width, height, 'nearest');
  else if (img.channels === 4) data = resizeRgbaPil(img.data, img.width, img.height, width, height, filter);
  else data = resizeRgb(img.data, img.width, img.height, img.channels, width, height, filter);
  return { data, width, height, channels: img.channels };
}

/** PIL: Image.alpha_composite(white RGBA, image.convert("RGBA")).convert("RGB"), for one pixel's channel. */
function overWhite(v: number, a: number): number {
  if (a === 0) return 255;
  // ImagingAlphaComposite with dst = (255, 255, 255, 255): outa255 = 255 * 255.
  const coef1 = Math.floor((a * 255 * 255 * 128) / (255 * 255));
  const coef2 = 255 * 128 - coef1;
  const t = v * coef1 + 255 * coef2 + (0x80 << 7);
  return (((t >> 8) + t) >> 8) >> 7;
}

/**
 * Preprocess one image as Idefics3ImageProcessor does: the float32 tiles (CHW, rescaled and
 * normalised) and the grid they came from, for `imagePromptString`.
 */
export function idefics3Preprocess(image: Idefics3Image, cfg: Idefics3ProcessorConfig, where = 'image'): Idefics3Pixels {
  const { width, height, channels, data } = image;
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1)
    throw new InputError(where, `must have a positive integer width and height, got ${width}x${height}`);
  if (channels !== 1 && channels !== 3 && channels !== 4) throw new InputError(where, `must have 1, 3 or 4 channels, got ${channels}`);
  if (data.length !== width * height * channels)
    throw new InputError(where, `${width}x${height} with ${channels} channels needs ${width * height * channels} bytes, got ${data.length}`);
  if (!cfg.doConvertRgb && channels !== 3)
    throw new InputError(where, `has ${channels} channel${channels === 1 ? '' : 's'} and do_convert_rgb is off: the model takes RGB`);
  const S = cfg.maxImageSize;
  const filter = cfg.resample;

  let img: U8Image = { data, width, height, channels };
  if (cfg.doResize) {
    const t = 'longestEdge' in cfg.size ? idefics3ResizeSize(height, width, cfg.size.longestEdge) : cfg.size;
    img = pilResize(img, t.width, t.height, filter, where);
  }

  // Each tile: [x0, y0] of an S x S window into `src`.
  let windows: { src: U8Image; x0: number; y0: number }[];
  let rows = 0;
  let cols = 0;
  if (cfg.doImageSplitting) {
    const t = idefics3SplitSize(img.height, img.width, S);
    img = pilResize(img, t.width, t.height, filter, where);
    if (img.height > S || img.width > S) {
      rows = Math.ceil(img.height / S);
      cols = Math.ceil(img.width / S);
      // HF crops ceil(h / rows) x ceil(w / cols), which is S x S since both sides are multiples of S.
      windows = [];
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) windows.push({ src: img, x0: c * S, y0: r * S });
      windows.push({ src: pilResize(img, S, S, filter, where), x0: 0, y0: 0 });
    } else {
      windows = [{ src: img, x0: 0, y0: 0 }];
    }
  } else {
    windows = [{ src: pilResize(img, S, S, filter, where), x0: 0, y0: 0 }];
  }

  // Per byte value: over white (a 256 x 256 table indexed by alpha and value), then the float it
  // becomes per channel: numpy's image.astype(float64) * factor -> float32, then (x - mean) / std
  // in float32.
  const overWhiteLut = new Uint8Array(256 * 256);
  for (let a = 0; a < 256; a++) for (let v = 0; v < 256; v++) overWhiteLut[a * 256 + v] = cfg.doConvertRgb ? overWhite(v, a) : v;
  const valueLut = new Float32Array(3 * 256);
  for (let ch = 0; ch < 3; ch++) {
    const mean = Math.fround(cfg.imageMean[ch]!);
    const std = Math.fround(cfg.imageStd[ch]!);
    for (let v = 0; v < 256; v++) {
      let f = cfg.doRescale ? Math.fround(v * cfg.rescaleFactor) : v;
      if (cfg.doNormalize) f = Math.fround(Math.fround(f - mean) / std);
      valueLut[ch * 256 + v] = f;
    }
  }

  const plane = S * S;
  const tiles = new Float32Array(windows.length * 3 * plane);
  windows.forEach(({ src, x0, y0 }, n) => {
    const base = n * 3 * plane;
    const c = src.channels;
    const d = src.data;
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const p = ((y0 + y) * src.width + x0 + x) * c;
        const o = base + y * S + x;
        if (c === 1) {
          // A grey byte is the same in R, G and B; each channel still has its own mean and std.
          const g = overWhiteLut[255 * 256 + d[p]!]!;
          tiles[o] = valueLut[g]!;
          tiles[o + plane] = valueLut[256 + g]!;
          tiles[o + 2 * plane] = valueLut[512 + g]!;
        } else {
          const a = c === 4 ? d[p + 3]! * 256 : 255 * 256;
          tiles[o] = valueLut[overWhiteLut[a + d[p]!]!]!;
          tiles[o + plane] = valueLut[256 + overWhiteLut[a + d[p + 1]!]!]!;
          tiles[o + 2 * plane] = valueLut[512 + overWhiteLut[a + d[p + 2]!]!]!;
        }
      }
    }
  });
  return { tiles, rows, cols, size: S, count: windows.length };
}

// ---- prompt ---------------------------------------------------------------------------------

export interface Idefics3Tokens {
  fake: string;
  image: string;
  global: string;
}

export const IDEFICS3_TOKENS: Readonly<Idefics3Tokens> = Object.freeze({
  fake: '<fake_token_around_image>',
  image: '<image>',
  global: '<global-img>',
});

/**
 * The text that stands for one image in the prompt (processing_idefics3.py get_image_prompt_string).
 * Split (rows x cols tiles): for each row, each tile as `<fake><row_r_col_c>` + `<image>` x seqLen,
 * then a newline; then a newline, `<fake><global-img>` + `<image>` x seqLen + `<fake>`.
 * Not split (rows = cols = 0): `<fake><global-img>` + `<image>` x seqLen + `<fake>`.
 */
export function imagePromptString(rows: number, cols: number, imageSeqLen: number, tokens: Idefics3Tokens = IDEFICS3_TOKENS): string {
  for (const [k, v] of [
    ['rows', rows],
    ['cols', cols],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`imagePromptString: ${k} must be a non-negative integer, got ${v}`);
  }
  if (!Number.isSafeInteger(imageSeqLen) || imageSeqLen < 1)
    throw new RangeError(`imagePromptString: imageSeqLen must be a positive integer, got ${imageSeqLen}`);
  const run = tokens.image.repeat(imageSeqLen);
  const global = `${tokens.fake}${tokens.global}${run}${tokens.fake}`;
  if (rows === 0 && cols === 0) return global;
  let s = '';
  for (let r = 1; r <= rows; r++) {
    for (let c = 1; c <= cols; c++) s += `${tokens.fake}<row_${r}_col_${c}>${run}`;
    s += '\n';
  }
  return `${s}\n${global}`;
}
