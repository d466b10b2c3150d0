import { expandImages } from '../../src/io/chat';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/engine/errors';
import {
  IDEFICS3_DEFAULT_IMAGE_SEQ_LEN,
  IDEFICS3_DEFAULTS,
  idefics3Preprocess,
  idefics3ProcessorFromJson,
  idefics3ResizeSize,
  idefics3SplitSize,
  imagePromptString,
  type Idefics3Image,
} from '../../src/io/idefics3-processor';
import { type ResampleFilter, resizeRgb, resizeRgbaPil } from '../../src/io/resample';

// The fixture is Pillow's own output (scripts/fixtures/make-idefics3-processor-fixture.py): resizes,
// and Idefics3ImageProcessor's steps transcribed into Python with every pixel operation done by PIL.
const DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/idefics3-processor');
interface Ref {
  offset: number;
  length: number;
  dtype: 'uint8' | 'float32';
}
const index = JSON.parse(readFileSync(path.join(DIR, 'index.json'), 'utf8')) as {
  pillow: string;
  images: Record<string, { width: number; height: number; channels: 1 | 3 | 4; data: Ref }>;
  resize: { image: string; width: number; height: number; filter: ResampleFilter; rgbaPil: boolean; data: Ref }[];
  processor: { name: string; image: string; config: Record<string, unknown>; rows: number; cols: number; count: number; size: number; tiles: Ref }[];
  smolvlm: {
    image: string;
    config: Record<string, unknown>;
    rows: number;
    cols: number;
    count: number;
    size: number;
    sums: number[][];
    sha256: string;
    positions: number[];
    values: Ref;
  };
  prompts: { rows: number; cols: number; imageSeqLen: number; text: string }[];
};
const bin = readFileSync(path.join(DIR, 'data.bin'));
const u8 = (r: Ref) => new Uint8Array(bin.buffer, bin.byteOffset + r.offset, r.length);
const f32 = (r: Ref) => new Float32Array(bin.buffer.slice(bin.byteOffset + r.offset, bin.byteOffset + r.offset + r.length * 4));
const image = (name: string): Idefics3Image => {
  const im = index.images[name]!;
  return { data: u8(im.data), width: im.width, height: im.height, channels: im.channels };
};

function inputError(f: () => unknown): InputError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return e as InputError;
  }
  throw new Error('expected an InputError');
}

/** Index of the first differing byte, or -1. */
function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

describe('resizeRgb: bit-exact to Pillow', () => {
  it('covers every filter, up and down, one pass or two', () => {
    const filters = new Set(index.resize.map((r) => r.filter));
    expect([...filters].sort()).toEqual(['bicubic', 'bilinear', 'box', 'hamming', 'lanczos', 'nearest']);
    expect(index.resize.length).toBeGreaterThan(30);
  });

  for (const c of index.resize) {
    const src = index.images[c.image]!;
    it(`${c.image} -> ${c.width}x${c.height} ${c.filter}${c.rgbaPil ? ' (RGBA, premultiplied)' : ''} (Pillow ${index.pillow})`, () => {
      const input = u8(src.data);
      const out = c.rgbaPil
        ? resizeRgbaPil(input, src.width, src.height, c.width, c.height, c.filter)
        : resizeRgb(input, src.width, src.height, src.channels, c.width, c.height, c.filter);
      const want = u8(c.data);
      expect(out.length).toBe(want.length);
      const at = firstDiff(out, want);
      expect(at, at < 0 ? '' : `byte ${at}: got ${out[at]}, Pillow ${want[at]}`).toBe(-1);
    });
  }

  it('rejects sizes that do not fit the buffer', () => {
    expect(() => resizeRgb(new Uint8Array(5), 2, 1, 3, 1, 1, 'lanczos')).toThrow(/needs 6 bytes/);
    expect(() => resizeRgb(new Uint8Array(6), 2, 1, 3, 0, 1, 'lanczos')).toThrow(/newWidth/);
  });
});

describe('idefics3 sizes', () => {
  it('resizes the longest edge up or down, the other edge truncated and made even', () => {
    // 23 x 37 (h x w): 96 * 23 / 37 = 59.68 -> 59 -> 60.
    expect(idefics3ResizeSize(23, 37, 96)).toEqual({ height: 60, width: 96 });
    expect(idefics3ResizeSize(61, 23, 48)).toEqual({ height: 48, width: 18 });
    expect(idefics3ResizeSize(3000, 1000, 2048)).toEqual({ height: 2048, width: 682 });
    // Above 4096 the already-resized image is capped: 8192 x 2730 (2729 made even) -> 4096 x 1365,
    // the short side truncated and not made even again.
    expect(idefics3ResizeSize(1000, 3001, 8192)).toEqual({ height: 1365, width: 4096 });
    expect(idefics3ResizeSize(5000, 10, 8000)).toEqual({ height: 4096, width: 8 });
  });

  it('rounds both sides up to tile multiples, the short side from the rounded long side', () => {
    expect(idefics3SplitSize(60, 96, 32)).toEqual({ height: 64, width: 96 });
    expect(idefics3SplitSize(10, 512, 512)).toEqual({ height: 512, width: 512 });
    expect(idefics3SplitSize(11, 513, 512)).toEqual({ height: 512, width: 1024 });
    expect(idefics3SplitSize(2048, 1366, 512)).toEqual({ height: 2048, width: 1536 });
  });
});

describe('idefics3Preprocess against the transcribed processor', () => {
  for (const c of index.processor) {
    it(c.name, () => {
      const cfg = idefics3ProcessorFromJson(c.config, `${c.name}/preprocessor_config.json`);
      const got = idefics3Preprocess(image(c.image), cfg);
      expect({ rows: got.rows, cols: got.cols, count: got.count, size: got.size }).toEqual({ rows: c.rows, cols: c.cols, count: c.count, size: c.size });
      const want = f32(c.tiles);
      expect(got.tiles.length).toBe(want.length);
      let worst = 0;
      let at = -1;
      for (let i = 0; i < want.length; i++) {
        const d = Math.abs(got.tiles[i]! - want[i]!);
        if (d > worst) [worst, at] = [d, i];
      }
      expect(worst, `worst at ${at}: got ${got.tiles[at]}, want ${want[at]}`).toBeLessThanOrEqual(1e-6);
    });
  }

  it("SmolVLM-256M's settings (2048 / 512) on a 37x23 image: 3x4 tiles + global, same sums and sampled values", () => {
    const s = index.smolvlm;
    const cfg = idefics3ProcessorFromJson(s.config, 'smolvlm/preprocessor_config.json', { image_seq_len: 64 });
    expect(cfg.size).toEqual({ longestEdge: 2048 });
    expect(cfg.maxImageSize).toBe(512);
    expect(cfg.resample).toBe('lanczos');
    const got = idefics3Preprocess(image(s.image), cfg);
    expect({ rows: got.rows, cols: got.cols, count: got.count, size: got.size }).toEqual({ rows: s.rows, cols: s.cols, count: s.count, size: s.size });
    const plane = s.size * s.size;
    for (let n = 0; n < s.count; n++) {
      for (let ch = 0; ch < 3; ch++) {
        let sum = 0;
        const base = (n * 3 + ch) * plane;
        for (let i = 0; i < plane; i++) sum += got.tiles[base + i]!;
        expect(sum, `tile ${n} channel ${ch}`).toBeCloseTo(s.sums[n]![ch]!, 2);
      }
    }
    const want = f32(s.values);
    s.positions.forEach((p, i) => expect(Math.abs(got.tiles[p]! - want[i]!), `value ${p}`).toBeLessThanOrEqual(1e-6));
    const bytes = new Uint8Array(got.tiles.buffer, got.tiles.byteOffset, got.tiles.byteLength);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(s.sha256);
  });

  it('rejects an image whose bytes do not match its size, and non-RGB input without do_convert_rgb', () => {
    const cfg = IDEFICS3_DEFAULTS;
    expect(inputError(() => idefics3Preprocess({ data: new Uint8Array(10), width: 2, height: 2, channels: 3 }, cfg, 'scan.png')).message).toMatch(
      /^scan\.png: .*needs 12 bytes/,
    );
    const noRgb = { ...cfg, doConvertRgb: false };
    expect(inputError(() => idefics3Preprocess({ data: new Uint8Array(4), width: 2, height: 2, channels: 1 }, noRgb)).message).toMatch(/do_convert_rgb/);
  });
});

describe('idefics3ProcessorFromJson', () => {
  it("reads SmolVLM-256M-Instruct's preprocessor_config.json and processor_config.json", () => {
    const cfg = idefics3ProcessorFromJson(
      {
        do_convert_rgb: true,
        do_image_splitting: true,
        do_normalize: true,
        do_pad: true,
        do_rescale: true,
        do_resize: true,
        image_mean: [0.5, 0.5, 0.5],
        image_processor_type: 'Idefics3ImageProcessor',
        image_std: [0.5, 0.5, 0.5],
        max_image_size: { longest_edge: 512 },
        processor_class: 'Idefics3Processor',
        resample: 1,
        rescale_factor: 0.00392156862745098,
        size: { longest_edge: 2048 },
      },
      'preprocessor_config.json',
      { image_seq_len: 64, processor_class: 'Idefics3Processor' },
    );
    expect(cfg).toEqual({
      doConvertRgb: true,
      doResize: true,
      size: { longestEdge: 2048 },
      resample: 'lanczos',
      doImageSplitting: true,
      maxImageSize: 512,
      doRescale: true,
      rescaleFactor: 0.00392156862745098,
      doNormalize: true,
      imageMean: [0.5, 0.5, 0.5],
      imageStd: [0.5, 0.5, 0.5],
      doPad: true,
      imageSeqLen: 64,
    });
  });

  it("takes Idefics3ImageProcessor's defaults for absent keys, and image_seq_len 169 without processor_config.json", () => {
    const cfg = idefics3ProcessorFromJson({}, 'p.json');
    expect(cfg).toEqual(IDEFICS3_DEFAULTS);
    expect(cfg.size).toEqual({ longestEdge: 1456 });
    expect(cfg.maxImageSize).toBe(364);
    expect(cfg.imageSeqLen).toBe(IDEFICS3_DEFAULT_IMAGE_SEQ_LEN);
    expect(IDEFICS3_DEFAULT_IMAGE_SEQ_LEN).toBe(169);
    expect(idefics3ProcessorFromJson({}, 'p.json', {}).imageSeqLen).toBe(169);
    expect(idefics3ProcessorFromJson({ resample: 3, image_mean: 0.25, size: { height: 10, width: 20 } }, 'p.json')).toMatchObject({
      resample: 'bicubic',
      imageMean: [0.25, 0.25, 0.25],
      size: { height: 10, width: 20 },
    });
  });

  it('names the key that is wrong', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ do_resize: 'yes' }, /^p\.json: do_resize must be true or false/],
      [{ size: 512 }, /^p\.json: size must be an object/],
      [{ size: { shortest_edge: 10 } }, /^p\.json: size must have longest_edge/],
      [{ size: { longest_edge: 0 } }, /^p\.json: size\.longest_edge must be a positive integer, got 0/],
      [{ size: { longest_edge: 12.5 } }, /size\.longest_edge must be a positive integer/],
      [{ max_image_size: 512 }, /^p\.json: max_image_size must be an object with longest_edge/],
      [{ max_image_size: { longest_edge: -1 } }, /max_image_size\.longest_edge must be a positive integer/],
      [{ resample: 9 }, /^p\.json: resample must be one of PIL's filters .*1 \(lanczos\).*got 9/],
      [{ resample: 'cubic' }, /resample must be one of/],
      [{ rescale_factor: 0 }, /^p\.json: rescale_factor must be a positive number/],
      [{ image_mean: [0.5, 0.5] }, /^p\.json: image_mean must be a number or a list of 3/],
      [{ image_std: [0.5, 0, 0.5] }, /^p\.json: image_std must be a number or a list of 3 non-zero numbers/],
      [{ do_image_splitting: 1 }, /do_image_splitting must be true or false/],
      [{ do_pad: 'no' }, /do_pad must be true or false/],
    ];
    for (const [json, re] of bad) expect(inputError(() => idefics3ProcessorFromJson(json, 'p.json')).message).toMatch(re);
    expect(inputError(() => idefics3ProcessorFromJson([], 'p.json')).message).toMatch(/^p\.json: preprocessor config must be a JSON object/);
    expect(inputError(() => idefics3ProcessorFromJson({}, 'p.json', { image_seq_len: '64' }, 'proc.json')).message).toMatch(
      /^proc\.json: image_seq_len must be a positive integer, got "64"/,
    );
    expect(inputError(() => idefics3ProcessorFromJson({}, 'p.json', [1])).message).toMatch(/^processor_config\.json: processor config must be a JSON object/);
  });
});

describe('image prompt strings', () => {
  it('split 2x3 and single, written out', () => {
    const F = '<fake_token_around_image>';
    const I = '<image><image>';
    const G = `${F}<global-img>${I}${F}`;
    expect(imagePromptString(2, 3, 2)).toBe(
      `${F}<row_1_col_1>${I}${F}<row_1_col_2>${I}${F}<row_1_col_3>${I}\n` + `${F}<row_2_col_1>${I}${F}<row_2_col_2>${I}${F}<row_2_col_3>${I}\n` + `\n${G}`,
    );
    expect(imagePromptString(0, 0, 2)).toBe(G);
  });

  it('matches processing_idefics3.py for every fixture case', () => {
    for (const p of index.prompts) expect(imagePromptString(p.rows, p.cols, p.imageSeqLen)).toBe(p.text);
  });

  it('takes other token spellings', () => {
    expect(imagePromptString(1, 1, 1, { fake: '<f>', image: '<i>', global: '<g>' })).toBe('<f><row_1_col_1><i>\n\n<f><g><i><f>');
  });

  it('expands each <image> of a chat prompt with its own image', () => {
    const text = '<|im_start|>User:<image><image>Compare.<end_of_utterance>\nAssistant:';
    const got = expandImages(text, [imagePromptString(1, 2, 3), imagePromptString(0, 0, 3)]);
    expect(got).toBe(`<|im_start|>User:${imagePromptString(1, 2, 3)}${imagePromptString(0, 0, 3)}Compare.<end_of_utterance>\nAssistant:`);
    expect(expandImages('no images', [])).toBe('no images');
  });

  it('says so when the placeholders and the images differ in number', () => {
    expect(inputError(() => expandImages('User:<image><image>', [imagePromptString(0, 0, 64)])).message).toMatch(/has 2 <image> markers for 1 images/);
    expect(inputError(() => expandImages('User: hi', [imagePromptString(0, 0, 64)])).message).toMatch(/has 0 <image> markers for 1 images/);
  });
});
