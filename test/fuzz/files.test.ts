// Fuzzing the files a lab reads from a model folder or a dataset: safetensors, whole model folders
// (NaN weights, missing or reshaped tensors, shard indexes), config.json, tokenizer.json and images.
// Seeded and deterministic; see harness.ts for what counts as a finding.
import { describe, it, vi } from 'vitest';
import jpeg from 'jpeg-js';
import { MemoryWorkspace } from '../../src/io/workspace';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors';
import { configFromHfJson, configToHfJson, loadHfFolder, saveHfFolder } from '../../src/io/hf-config';
import { loadTokenizer } from '../../src/io/tokenizer';
import { trainByteLevelBpe, LAB_SPECIAL_TOKENS } from '../../src/io/bpe-trainer';
import { decodeImage } from '../../src/io/images';
import { initWeights } from '../../src/model/model';
import type { ModelConfig } from '../../src/model/config';
import { crc32, pngFile } from '../data/helpers';
import { Fuzz, fuzzRng, type FuzzRng } from './harness';

const FILE = 'fz/model.safetensors';
const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));

/** A safetensors file from a header object and data, its length field off by `lengthOff` bytes. */
function assemble(header: unknown, data: Uint8Array, lengthOff = 0): Uint8Array {
  const json = enc(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length + lengthOff), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function goodSafetensors(r: FuzzRng) {
  const tensors = Array.from({ length: r.range(1, 4) }, (_, i) => {
    const shape = Array.from({ length: r.range(1, 3) }, () => r.range(1, 5));
    return { name: `t${i}.weight`, shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r.next() - 0.5) };
  });
  const bytes = writeSafetensors(tensors, { format: 'pt' });
  const len = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len))) as Record<string, Record<string, unknown>>;
  return { bytes, header, data: bytes.subarray(8 + len), len };
}

const BAD_ENTRY: [string, (e: Record<string, unknown>, size: number) => unknown][] = [
  ['dtype Q4', (e) => ({ ...e, dtype: 'Q4' })],
  ['dtype lower-case', (e) => ({ ...e, dtype: 'f32' })],
  ['dtype number', (e) => ({ ...e, dtype: 5 })],
  ['dtype missing', (e) => ({ ...e, dtype: undefined })],
  ['shape negative', (e) => ({ ...e, shape: [-1] })],
  ['shape fractional', (e) => ({ ...e, shape: [1.5, 2] })],
  ['shape string', (e) => ({ ...e, shape: '3' })],
  ['shape huge', (e) => ({ ...e, shape: [2 ** 40, 2 ** 40] })],
  ['shape one too many', (e, n) => ({ ...e, shape: [n / 4 + 1] })],
  ['offsets one number', (e) => ({ ...e, data_offsets: [0] })],
  ['offsets reversed', (e) => ({ ...e, data_offsets: [...(e.data_offsets as number[])].reverse() })],
  ['offsets short', (e) => ({ ...e, data_offsets: [(e.data_offsets as number[])[0], (e.data_offsets as number[])[1] - 1] })],
  ['offsets past the end', (e) => ({ ...e, data_offsets: [(e.data_offsets as number[])[0] + 1e9, (e.data_offsets as number[])[1] + 1e9] })],
  ['offsets strings', (e) => ({ ...e, data_offsets: ['0', '4'] })],
  ['offsets negative', (e) => ({ ...e, data_offsets: [-4, (e.data_offsets as number[])[1] - 4] })],
  ['entry number', () => 5],
  ['entry array', () => [1, 2]],
  ['entry null', () => null],
];

describe('fuzz: safetensors', () => {
  it('every corrupted file is an InputError naming it', async () => {
    const f = new Fuzz('safetensors');
    const r = fuzzRng(101);
    for (let i = 0; i < 60; i++) {
      const g = goodSafetensors(r);
      const cut = r.int(g.bytes.length);
      await f.check({ name: `truncated to ${cut} of ${g.bytes.length}`, run: () => readSafetensors(g.bytes.subarray(0, cut), FILE), names: [FILE], bad: true });
      const extra = r.range(1, 40);
      await f.check({
        name: `${extra} bytes appended`,
        run: () => readSafetensors(new Uint8Array([...g.bytes, ...r.bytes(extra)]), FILE),
        names: [FILE],
        bad: true,
      });
      const delta = r.pick([-1, 1]) * r.range(1, 24);
      await f.check({
        name: `header length ${delta > 0 ? '+' : ''}${delta}`,
        run: () => readSafetensors(assemble(g.header, g.data, delta), FILE),
        names: [FILE],
        bad: true,
      });
      const [what, mutate] = r.pick(BAD_ENTRY);
      const names = Object.keys(g.header).filter((k) => k !== '__metadata__');
      const victim = r.pick(names);
      const off = g.header[victim].data_offsets as number[];
      const h = { ...g.header, [victim]: mutate(g.header[victim], off[1] - off[0]) };
      await f.check({ name: `tensor ${victim}: ${what}`, run: () => readSafetensors(assemble(h, g.data), FILE), names: [FILE], bad: true });
      const other = r.pick([
        ['header array', [1, 2]],
        ['header number', 7],
        ['header string', 'x'],
        ['header null', null],
        ['metadata number', { ...g.header, __metadata__: 5 }],
        ['metadata value number', { ...g.header, __metadata__: { format: 1 } }],
        ['extra overlapping tensor', { ...g.header, dup: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }],
        ['extra tensor past the data', { ...g.header, tail: { dtype: 'U8', shape: [2], data_offsets: [g.data.length, g.data.length + 2] } }],
      ] as [string, unknown][]);
      await f.check({ name: other[0], run: () => readSafetensors(assemble(other[1], g.data), FILE), names: [FILE], bad: true });
      // These may still be valid files (a renamed tensor, other weights): a result or an InputError.
      await f.check({
        name: 'header bytes flipped',
        run: () => readSafetensors(r.flip(g.bytes, r.range(1, 4), 8, 8 + g.len), FILE),
        names: [FILE],
        bad: false,
      });
      await f.check({ name: 'data bytes flipped', run: () => readSafetensors(r.flip(g.bytes, r.range(1, 8), 8 + g.len), FILE), names: [FILE], bad: false });
      await f.check({ name: 'random bytes', run: () => readSafetensors(r.bytes(r.int(64)), FILE), names: [FILE], bad: false });
    }
    f.report(60 * 5);
  });
});

const SMALL: ModelConfig = {
  text: {
    architecture: 'llama',
    vocabSize: 37,
    hiddenSize: 12,
    intermediateSize: 20,
    numLayers: 2,
    numHeads: 3,
    numKvHeads: 1,
    headDim: 4,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    maxPositionEmbeddings: 64,
    tieWordEmbeddings: false,
    qkvBias: false,
    oBias: false,
    mlpBias: false,
    bosTokenId: 1,
    eosTokenId: [2],
    padTokenId: 0,
  },
  vision: { imageSize: 8, patchSize: 4, channels: 1, hiddenSize: 6, intermediateSize: 10, numLayers: 1, numHeads: 2, rmsNormEps: 1e-5 },
  imageTokenId: 36,
};

describe('fuzz: model folders', () => {
  it('NaN or infinite weights, missing or reshaped tensors and broken shard indexes name the file', async () => {
    const f = new Fuzz('model folders');
    const r = fuzzRng(202);
    const good = new MemoryWorkspace('fz');
    await saveHfFolder(good, SMALL, initWeights(SMALL, 3));
    const copy = () => new MemoryWorkspace('fz', Object.fromEntries([...good.files].map(([k, v]) => [k, v.slice()])));
    const tensorsOf = async (m: MemoryWorkspace, file: string) => readSafetensors(await m.read(file), file);
    const write = async (m: MemoryWorkspace, file: string, t: Map<string, { shape: number[]; data: Float32Array }>) =>
      m.write(file, writeSafetensors([...t].map(([name, v]) => ({ name, ...v }))));
    for (let i = 0; i < 60; i++) {
      const file = r.pick(['model.safetensors', 'vision.safetensors']);
      let m = copy();
      let t = await tensorsOf(m, file);
      const name = r.pick([...t.keys()]);
      const v = t.get(name)!;
      const at = r.int(v.data.length);
      const bad = r.pick([NaN, Infinity, -Infinity]);
      v.data[at] = bad;
      await write(m, file, t);
      await f.check({ name: `${file} ${name}[${at}] = ${bad}`, run: () => loadHfFolder(m), names: [`fz/${file}`], bad: true });

      m = copy();
      t = await tensorsOf(m, file);
      t.delete(name);
      await write(m, file, t);
      await f.check({ name: `${file} without ${name}`, run: () => loadHfFolder(m), names: [name], bad: true });

      m = copy();
      t = await tensorsOf(m, file);
      t.set(name, { shape: [...v.shape, 1], data: new Float32Array(v.data.length) });
      await write(m, file, t);
      await f.check({ name: `${file} ${name} reshaped`, run: () => loadHfFolder(m), names: [name], bad: true });

      m = copy();
      const text = new TextDecoder().decode(await m.read('config.json'));
      await m.write('config.json', enc(text.slice(0, r.int(text.length))));
      await f.check({ name: 'config.json truncated', run: () => loadHfFolder(m), names: ['fz/config.json'], bad: true });

      m = copy();
      const index = r.pick([
        { weight_map: 5 },
        { weight_map: { 'model.norm.weight': 'gone.safetensors' } },
        { weight_map: { 'model.norm.weight': 7 } },
        [1],
        { metadata: {} },
        { weight_map: { 'model.norm.weight': 'model.safetensors', 'vision.norm.weight': 'model.safetensors' } },
      ]);
      await m.write('model.safetensors.index.json', enc(index));
      await f.check({ name: `index ${JSON.stringify(index)}`, run: () => loadHfFolder(m), names: ['fz/'], bad: true });
    }
    f.report(60 * 5);
  });
});

const HF = configToHfJson(SMALL) as Record<string, unknown>;

/** Values no config.json key of this name may hold (null means "absent" for optional keys, so it is left out there). */
const BAD_VALUES: Record<string, unknown[]> = {
  vocab_size: [0, -1, 1.5, '37', true, [], {}, 1e12, null],
  hidden_size: [0, -12, 12.5, '12', false, 1e9, null],
  intermediate_size: [0, -1, 2.5, 'x', 1e9, null],
  num_hidden_layers: [0, -2, 1e9, 2.5, '2', null],
  num_attention_heads: [0, -3, 1.5, 'three', null],
  num_key_value_heads: [0, 2, 5, -1, 'one'],
  head_dim: [0, 3, -4, 1e9, 256, 'four'],
  max_position_embeddings: [0, -64, 1e9, 64.5, 'long'],
  rms_norm_eps: [0, -1e-5, 'small', true],
  rope_theta: [0, -10000, 'big'],
  tie_word_embeddings: ['yes', 1, [], {}],
  attention_bias: ['no', 0],
  mlp_bias: ['no', 2],
  hidden_act: ['gelu', 'relu', 5],
  model_type: ['mamba', 5, 'gemma'],
  architectures: ['LlamaForCausalLM', [5], ['MambaForCausalLM'], ['LlamaForSequenceClassification']],
  rope_scaling: [
    5,
    'linear',
    { rope_type: 'yarn', factor: 2 },
    { rope_type: 'linear' },
    { rope_type: 'llama3', factor: 8 },
    { rope_type: 'llama3', factor: 8, low_freq_factor: 4, high_freq_factor: 1, original_max_position_embeddings: 8192 },
    { full: { rope_type: 'default' } },
  ],
  partial_rotary_factor: [0.5, 0, -1],
  bos_token_id: [-1, 37, 1e9, 'one', 1.5],
  eos_token_id: [-2, 37, ['x'], [1, 99], 'end'],
  // -1 is how early Llama conversions said "no padding token".
  pad_token_id: [-2, 40, 'pad'],
  thinker: [
    5,
    'vision',
    { vision: 5 },
    { vision: { ...(HF.thinker as { vision: object }).vision, image_size: 9 } },
    { vision: { ...(HF.thinker as { vision: object }).vision, num_heads: 4 } },
    { vision: { ...(HF.thinker as { vision: object }).vision, image_size: 1e9 } },
    { ...(HF.thinker as object), image_token_id: 99 },
    { ...(HF.thinker as object), image_token_id: -1 },
  ],
};

describe('fuzz: config.json', () => {
  it('every bad key, alone or with others, is an InputError naming the file', async () => {
    const f = new Fuzz('config.json');
    const r = fuzzRng(303);
    const where = 'fz/config.json';
    for (const [key, values] of Object.entries(BAD_VALUES)) {
      for (const v of values)
        await f.check({ name: `${key}: ${JSON.stringify(v)}`, run: () => configFromHfJson({ ...HF, [key]: v }, where), names: [where], bad: true });
    }
    const keys = Object.keys(BAD_VALUES);
    for (let i = 0; i < 150; i++) {
      const json: Record<string, unknown> = { ...HF };
      const picked = Array.from({ length: r.range(2, 4) }, () => r.pick(keys));
      for (const k of picked) json[k] = r.pick(BAD_VALUES[k]);
      await f.check({
        name: `${picked.map((k) => `${k}=${JSON.stringify(json[k])}`).join(', ')}`,
        run: () => configFromHfJson(json, where),
        names: [where],
        bad: true,
      });
      const missing = r.pick(['vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads']);
      const { [missing]: _gone, ...rest } = HF;
      await f.check({ name: `without ${missing}`, run: () => configFromHfJson(rest, where), names: [where], bad: true });
    }
    for (const v of [null, 5, 'config', [HF], true])
      await f.check({ name: `config ${JSON.stringify(v)?.slice(0, 20)}`, run: () => configFromHfJson(v, where), names: [where], bad: true });
    f.report(400);
  });
});

describe('fuzz: tokenizer.json', () => {
  it('bad tokenizer files are InputErrors naming the file; odd but loadable ones encode or refuse cleanly', async () => {
    const f = new Fuzz('tokenizer.json');
    const r = fuzzRng(404);
    // The library warns on parts it skips ("Unknown pattern type"); the verdict is what it returns or throws.
    const quiet = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const bpe = trainByteLevelBpe('the lung shows a nodule; no effusion. Is the heart enlarged? Yes or no.'.repeat(4), {
      vocabSize: 300,
      specialTokens: [...LAB_SPECIAL_TOKENS],
      eosToken: '<|im_end|>',
    });
    const tj = bpe.tokenizerJson as Record<string, unknown> & { model: Record<string, unknown> & { vocab: Record<string, number> } };
    const tokens = Object.keys(tj.model.vocab);
    const folder = (json: unknown, config: unknown = bpe.tokenizerConfig, extra: Record<string, unknown> = {}) =>
      new MemoryWorkspace('tk', {
        'tokenizer.json': typeof json === 'string' ? json : JSON.stringify(json),
        'tokenizer_config.json': JSON.stringify(config),
        ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, JSON.stringify(v)])),
      });
    // Loading and then using it: a library failure on first use must not escape either.
    const use = async (m: MemoryWorkspace) => {
      const tok = await loadTokenizer(m);
      tok.decode(tok.encode('Is the lung clear? <|im_end|>'));
    };
    const text = JSON.stringify(tj);
    for (let i = 0; i < 80; i++) {
      const token = r.pick(tokens);
      const bad: [string, () => MemoryWorkspace, string][] = [
        ['model.type', () => folder({ ...tj, model: { ...tj.model, type: r.pick(['Nope', 'WordLevel', 5, '', 'bpe']) } }), 'tk/tokenizer.json'],
        [
          'vocab id',
          () => folder({ ...tj, model: { ...tj.model, vocab: { ...tj.model.vocab, [token]: r.pick([-1, 1e12, 2.5, '3', null, 2 ** 22]) } } }),
          'tk/tokenizer.json',
        ],
        ['vocab kind', () => folder({ ...tj, model: { ...tj.model, vocab: r.pick([5, 'x', [1, 2], true]) } }), 'tk/tokenizer.json'],
        ['model kind', () => folder({ ...tj, model: r.pick([5, 'BPE', null, [tj.model]]) }), 'tk/tokenizer.json'],
        ['added token', () => folder({ ...tj, added_tokens: [{ id: r.pick([-1, 1e12, 'x', 1.5]), content: '<x>', special: true }] }), 'tk/tokenizer.json'],
        ['added tokens kind', () => folder({ ...tj, added_tokens: r.pick([5, 'x', [5], [{ id: 3 }]]) }), 'tk/tokenizer.json'],
        ['truncated', () => folder(text.slice(0, r.int(text.length - 1))), 'tk/tokenizer.json'],
        ['not an object', () => folder(r.pick(['[]', '5', '"x"', 'null'])), 'tk/tokenizer.json'],
        ['eos not in vocab', () => folder(tj, { ...bpe.tokenizerConfig, eos_token: r.pick(['<eos>', 'zzzzq', '<|nope|>']) }), 'tk/tokenizer_config.json'],
        [
          'generation eos',
          () => folder(tj, bpe.tokenizerConfig, { 'generation_config.json': { eos_token_id: r.pick(['x', -1, [1, 'y'], 2.5]) } }),
          'tk/generation_config.json',
        ],
        ['unigram vocab', () => folder({ ...tj, model: { type: 'Unigram', vocab: r.pick([[['a', 'x']], [5], [['a']], 'x']) } }), 'tk/tokenizer.json'],
      ];
      for (const [what, make, where] of bad) await f.check({ name: `${what} (${i})`, run: () => use(make()), names: [where], bad: true });
      // Parts the library interprets: anything may come of junk there, but only a result or an InputError.
      const part = r.pick(['normalizer', 'pre_tokenizer', 'post_processor', 'decoder']);
      const junk = r.pick([
        5,
        'x',
        [],
        { type: 'Nope' },
        { type: 'Sequence', pretokenizers: 5 },
        { type: 'Replace' },
        { type: 'ByteLevel', add_prefix_space: 'x' },
        { type: 'TemplateProcessing', single: 5 },
      ]);
      await f.check({ name: `${part}: ${JSON.stringify(junk)}`, run: () => use(folder({ ...tj, [part]: junk })), names: ['tk/tokenizer.json'], bad: false });
      const merges = r.pick([5, 'x', [5], [['a']], ['a b c d'], [[1, 2]]]);
      await f.check({
        name: `merges ${JSON.stringify(merges)}`,
        run: () => use(folder({ ...tj, model: { ...tj.model, merges } })),
        names: ['tk/tokenizer.json'],
        bad: false,
      });
    }
    quiet.mockRestore();
    f.report(80 * 11);
  });
});

describe('fuzz: images', () => {
  it('broken, truncated and oversized images are InputErrors naming the file', async () => {
    const f = new Fuzz('images');
    const r = fuzzRng(505);
    const opts = { width: 8, height: 8, channels: 1 as const };
    for (let i = 0; i < 60; i++) {
      const w = r.range(1, 24),
        h = r.range(1, 24);
      const rgba = r.bytes(w * h * 4);
      const png = pngFile(w, h, rgba);
      const jpg = new Uint8Array(jpeg.encode({ width: w, height: h, data: rgba }, 90).data);
      await f.check({
        name: `png ${w}x${h} truncated`,
        run: () => decodeImage(png.subarray(0, r.range(8, png.length - 13)), opts, 'fz/a.png'),
        names: ['fz/a.png'],
        bad: true,
      });
      await f.check({
        name: `jpeg ${w}x${h} truncated`,
        run: () => decodeImage(jpg.subarray(0, r.range(3, jpg.length - 3)), opts, 'fz/a.jpg'),
        names: ['fz/a.jpg'],
        bad: false,
      });
      const huge = Buffer.from(png);
      const [hw, hh] = r.pick([
        [30000, 30000],
        [1 << 30, 2],
        [100000, 1000],
        [8000, 7000],
      ]);
      huge.writeUInt32BE(hw, 16);
      huge.writeUInt32BE(hh, 20);
      huge.writeUInt32BE(crc32(huge.subarray(12, 29)), 29);
      await f.check({ name: `png claiming ${hw}x${hh}`, run: () => decodeImage(new Uint8Array(huge), opts, 'fz/big.png'), names: ['fz/big.png'], bad: true });
      await f.check({ name: 'not an image', run: () => decodeImage(r.bytes(r.int(64)), opts, 'fz/x.png'), names: ['fz/x.png'], bad: true });
      // Flipped bytes may still decode (JPEG has no checksum): a picture or an InputError.
      await f.check({
        name: `png ${w}x${h} flipped`,
        run: () => decodeImage(r.flip(png, r.range(1, 6), 8), opts, 'fz/a.png'),
        names: ['fz/a.png'],
        bad: false,
      });
      await f.check({
        name: `jpeg ${w}x${h} flipped`,
        run: () => decodeImage(r.flip(jpg, r.range(1, 6), 3), opts, 'fz/a.jpg'),
        names: ['fz/a.jpg'],
        bad: false,
      });
      await f.check({
        name: 'png magic, random body',
        run: () => decodeImage(new Uint8Array([...png.subarray(0, 8), ...r.bytes(r.int(80))]), opts, 'fz/r.png'),
        names: ['fz/r.png'],
        bad: true,
      });
    }
    f.report(60 * 4);
  });
});
