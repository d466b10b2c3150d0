// scripts/check-smolvlm.ts without the network. The real SmolVLM-256M cannot be downloaded here, so
// the check runs end to end on a SmolVLM-shaped tiny model (src/recipe/smolvlm.ts: the checkpoint's
// file layout, chat template and Idefics3 processor, random weights) with its "official ONNX
// files" written below as transformers.js expects them (onnx/vision_encoder.onnx, embed_tokens.onnx,
// decoder_model_merged.onnx, fp32): transformers.js's own Idefics3 processor and model classes on
// onnxruntime-node are the reference, as they are for the real model. Also: the one-line failure
// when the Hub cannot be reached (a stub fetch, and the script under tsx against a closed local
// port), a model folder that lacks files, the download path against a local stand-in Hub (a cut
// download resumed, a second run without requests), and a wrong vision graph (pixel shuffle left
// out) that the check must catch. Runs the engine: gpu lane.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { PNG } from 'pngjs';
import { compareLogits, main, type ItemReport } from '../../scripts/check-smolvlm';
import { generateSynth } from '../../src/data/synth';
import { buildLlamaGraph, ONNX_FLOAT, ONNX_INT64, OnnxGraphBuilder, valueInfo } from '../../src/io/onnx-export';
import { loadHfFolder, ropeInvFreqFromConfig, textConfigJson } from '../../src/io/hf-config';
import type { TextTokenizer } from '../../src/io/tokenizer';
import { nodeDirSource } from '../../src/io/workspace';
import { type ModelConfig, textPrefix } from '../../src/model/config';
import { tinySmolvlmFiles } from '../../src/recipe/smolvlm';
import { DATA_DIR, HAS_DATA } from '../data/helpers';
import { startHub } from '../pretrained/hub-server';

const { onnx } = onnxProto;
const root = path.resolve(__dirname, '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'thinker-check-smolvlm-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const tiny = path.join(dir, 'smolvlm-tiny');
const images = path.join(dir, 'images');
const badOnnx = path.join(dir, 'bad-onnx');

// ---------------------------------------------------------------------------------------------
// The tiny model's ONNX files, in the layout of HuggingFaceTB/SmolVLM-256M-Instruct's onnx/.

/** HF [out, in] -> [in, out], so y = MatMul(x, W). */
function transposed(w: Float32Array, out: number, inDim: number): Float32Array {
  const t = new Float32Array(w.length);
  for (let o = 0; o < out; o++) for (let i = 0; i < inDim; i++) t[i * out + o] = w[o * inDim + i];
  return t;
}

const encode = (graph: onnxProto.onnx.IGraphProto) =>
  onnx.ModelProto.encode(
    onnx.ModelProto.create({ irVersion: 8, producerName: 'check-smolvlm test', opsetImport: [{ domain: '', version: 17 }], graph }),
  ).finish();

/**
 * SigLIP tower + connector as transformers' Idefics3VisionTransformer and Idefics3Connector:
 * pixel_values [batch, images, 3, S, S] -> image_features [tiles, S²/p²/s², text hidden].
 * `shuffle: false` leaves out pixel_shuffle's permutes (a plausible layout bug).
 */
function visionOnnx(cfg: ModelConfig, w: (n: string) => Float32Array, o: { shuffle: boolean }): Uint8Array {
  const v = cfg.idefics3!;
  const { imageSize: S, patchSize: p, channels: C, hiddenSize: d, numHeads: H, intermediateSize: f, layerNormEps: eps, scaleFactor: sf } = v;
  const G = S / p;
  const P = G * G;
  const hd = d / H;
  const D = cfg.text.hiddenSize;
  const g = new OnnxGraphBuilder();
  const vw = (n: string) => `model.vision_model.${n}`;
  const lin = (x: string, name: string, out: number, inDim: number, bias = true) => {
    let y = g.op('MatMul', [x, g.floatInit(`${name}.weight.T`, [inDim, out], transposed(w(`${name}.weight`), out, inDim))]);
    if (bias) y = g.op('Add', [y, g.floatInit(`${name}.bias`, [out], w(`${name}.bias`))]);
    return y;
  };
  const ln = (x: string, name: string) =>
    g.op('LayerNormalization', [x, g.floatInit(`${name}.weight`, [d], w(`${name}.weight`)), g.floatInit(`${name}.bias`, [d], w(`${name}.bias`))], {
      axis: -1,
      epsilon: { float: eps },
    });
  const tilesIn = g.op('Reshape', ['pixel_values', g.intInit('shape', [-1, C, S, S])]);
  const conv = g.op(
    'Conv',
    [
      tilesIn,
      g.floatInit('patch.w', [d, C, p, p], w(vw('embeddings.patch_embedding.weight'))),
      g.floatInit('patch.b', [d], w(vw('embeddings.patch_embedding.bias'))),
    ],
    {
      kernel_shape: [p, p],
      strides: [p, p],
    },
  );
  let x = g.op('Transpose', [g.op('Reshape', [conv, g.intInit('shape', [0, d, P])])], { perm: [0, 2, 1] });
  x = g.op('Add', [x, g.floatInit('pos', [P, d], w(vw('embeddings.position_embedding.weight')))]);
  const heads = (y: string) => g.op('Transpose', [g.op('Reshape', [y, g.intInit('shape', [0, 0, H, hd])])], { perm: [0, 2, 1, 3] });
  const half = g.floatInit('half', [], [0.5]);
  const one = g.floatInit('one', [], [1]);
  for (let l = 0; l < v.numLayers; l++) {
    const pre = vw(`encoder.layers.${l}.`);
    const h = ln(x, `${pre}layer_norm1`);
    const q = heads(lin(h, `${pre}self_attn.q_proj`, d, d));
    const k = heads(lin(h, `${pre}self_attn.k_proj`, d, d));
    const vv = heads(lin(h, `${pre}self_attn.v_proj`, d, d));
    const scores = g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 1, 3, 2] })]), g.floatInit('scale', [], [1 / Math.sqrt(hd)])]);
    const ctx = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), vv]);
    const merged = g.op('Reshape', [g.op('Transpose', [ctx], { perm: [0, 2, 1, 3] }), g.intInit('shape', [0, 0, d])]);
    x = g.op('Add', [x, lin(merged, `${pre}self_attn.out_proj`, d, d)]);
    const u = lin(ln(x, `${pre}layer_norm2`), `${pre}mlp.fc1`, f, d);
    // GELU, tanh approximation: 0.5 u (1 + tanh(sqrt(2/pi) (u + 0.044715 u^3)))
    const cube = g.op('Mul', [g.op('Mul', [u, u]), u]);
    const inner = g.op('Mul', [g.op('Add', [u, g.op('Mul', [cube, g.floatInit('c', [], [0.044715])])]), g.floatInit('k', [], [Math.sqrt(2 / Math.PI)])]);
    const gelu = g.op('Mul', [g.op('Mul', [u, half]), g.op('Add', [one, g.op('Tanh', [inner])])]);
    x = g.op('Add', [x, lin(gelu, `${pre}mlp.fc2`, d, f)]);
  }
  x = ln(x, vw('post_layernorm'));
  // pixel_shuffle: view [n, G, G/s, s*d], permute(0,2,1,3), reshape [n, G/s, G/s, s*s*d], permute(0,2,1,3), reshape [n, P/s², s*s*d].
  const g2 = G / sf;
  if (o.shuffle) {
    x = g.op('Transpose', [g.op('Reshape', [x, g.intInit('shape', [0, G, g2, sf * d])])], { perm: [0, 2, 1, 3] });
    x = g.op('Transpose', [g.op('Reshape', [x, g.intInit('shape', [0, g2, g2, sf * sf * d])])], { perm: [0, 2, 1, 3] });
  }
  x = g.op('Reshape', [x, g.intInit('shape', [0, g2 * g2, sf * sf * d])]);
  g.opTo('Identity', [lin(x, 'model.connector.modality_projection.proj', D, sf * sf * d, false)], 'image_features');
  return encode({
    name: 'vision_encoder',
    node: g.nodes,
    initializer: g.inits,
    input: [
      valueInfo('pixel_values', ONNX_FLOAT, ['batch_size', 'num_images', C, S, S]),
      valueInfo('pixel_attention_mask', onnx.TensorProto.DataType.BOOL, ['batch_size', 'num_images', S, S]),
    ],
    output: [valueInfo('image_features', ONNX_FLOAT, ['num_tiles', g2 * g2, D])],
  });
}

function embedOnnx(cfg: ModelConfig, w: (n: string) => Float32Array): Uint8Array {
  const g = new OnnxGraphBuilder();
  const table = g.floatInit('embed_tokens.weight', [cfg.text.vocabSize, cfg.text.hiddenSize], w(`${textPrefix(cfg)}embed_tokens.weight`));
  g.opTo('Gather', [table, 'input_ids'], 'inputs_embeds', { axis: 0 });
  return encode({
    name: 'embed_tokens',
    node: g.nodes,
    initializer: g.inits,
    input: [valueInfo('input_ids', ONNX_INT64, ['batch_size', 'sequence_length'])],
    output: [valueInfo('inputs_embeds', ONNX_FLOAT, ['batch_size', 'sequence_length', cfg.text.hiddenSize])],
  });
}

/** The lab exporter's Llama decoder with the KV cache ('cache' layout), reading inputs_embeds instead of input_ids. */
function decoderOnnx(cfg: ModelConfig, w: (n: string) => Float32Array, invFreq: Float32Array): Uint8Array {
  const prefix = textPrefix(cfg);
  const proto = buildLlamaGraph({ text: cfg.text }, (n) => w(n.startsWith('model.') ? prefix + n.slice('model.'.length) : n), {
    layout: { kind: 'cache' },
    invFreq,
  });
  const graph = proto.graph!;
  const nodes = graph.node!;
  const at = nodes.findIndex((n) => n.opType === 'Gather' && n.input![1] === 'input_ids');
  const gathered = nodes[at].output![0];
  const table = nodes[at].input![0];
  nodes.splice(at, 1);
  for (const n of nodes) n.input = n.input!.map((x) => (x === gathered ? 'inputs_embeds' : x));
  if (nodes.some((n) => n.input!.includes('input_ids'))) throw new Error('decoder graph: input_ids is still read');
  if (!nodes.some((n) => n.input!.includes(table))) graph.initializer = graph.initializer!.filter((t) => t.name !== table);
  graph.input = graph.input!.map((v) =>
    v.name === 'input_ids' ? valueInfo('inputs_embeds', ONNX_FLOAT, ['batch_size', 'sequence_length', cfg.text.hiddenSize]) : v,
  );
  return onnx.ModelProto.encode(proto).finish();
}

function png(file: string, width: number, height: number, seed: number) {
  const p = new PNG({ width, height });
  for (let i = 0; i < width * height; i++) {
    const x = i % width;
    const y = Math.floor(i / width);
    p.data[4 * i] = (x * 9 + seed * 31) % 256;
    p.data[4 * i + 1] = (y * 7 + x * 3) % 256;
    p.data[4 * i + 2] = ((x ^ y) * 5 + seed) % 256;
    p.data[4 * i + 3] = 255;
  }
  writeFileSync(file, PNG.sync.write(p));
}

beforeAll(async () => {
  const items = await generateSynth({ n: 64, kind: 'image', level: 1, seed: 1, split: 'train' });
  for (const [name, bytes] of await tinySmolvlmFiles(items, { seed: 3 })) {
    mkdirSync(path.dirname(path.join(tiny, name)), { recursive: true });
    writeFileSync(path.join(tiny, name), bytes);
  }
  const { config, configJson, weights } = await loadHfFolder(nodeDirSource(tiny));
  const w = (n: string) => {
    const t = weights.get(n);
    if (!t) throw new Error(`no tensor ${n}`);
    return t.data;
  };
  const invFreq = ropeInvFreqFromConfig(textConfigJson(configJson));
  mkdirSync(path.join(tiny, 'onnx'));
  writeFileSync(path.join(tiny, 'onnx/vision_encoder.onnx'), visionOnnx(config, w, { shuffle: true }));
  writeFileSync(path.join(tiny, 'onnx/embed_tokens.onnx'), embedOnnx(config, w));
  writeFileSync(path.join(tiny, 'onnx/decoder_model_merged.onnx'), decoderOnnx(config, w, invFreq));
  // The same files but a vision graph without pixel shuffle's permutes: a folder of .onnx files alone.
  mkdirSync(badOnnx);
  writeFileSync(path.join(badOnnx, 'vision_encoder.onnx'), visionOnnx(config, w, { shuffle: false }));
  for (const f of ['embed_tokens.onnx', 'decoder_model_merged.onnx']) copyFileSync(path.join(tiny, 'onnx', f), path.join(badOnnx, f));
  mkdirSync(images);
  png(path.join(images, 'a-square.png'), 40, 30, 1); // 64 x 48 -> 2 x 2 tiles + global
  png(path.join(images, 'b-wide.png'), 120, 30, 2); // 64 x 16 -> 1 x 2 tiles + global
}, 120_000);

/** main() with its output captured; the network is a fetch that fails as an offline machine's does. */
async function run(args: string[], fetchImpl?: typeof fetch) {
  const out: string[] = [];
  const err: string[] = [];
  const offline = (async () => {
    throw new TypeError('fetch failed', { cause: { code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND huggingface.co' } });
  }) as unknown as typeof fetch;
  const code = await main(args, { fetch: fetchImpl ?? offline, out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out, err };
}

const cacheDir = () => mkdtempSync(path.join(dir, 'cache-'));

describe('compareLogits', () => {
  const tok = { decode: (ids: ArrayLike<number>) => `t${Array.from(ids).join(',')}` } as unknown as TextTokenizer;
  it('measures max |diff| against the largest reference logit, and calls a differing argmax a near-tie only within the tolerance on both sides', () => {
    const e = Float32Array.from([10, 10.004, -3, 0]);
    const r = Float32Array.from([10.004, 10, -3, 0]);
    let c = compareLogits(e, r, 1e-3, tok);
    expect(c.maxAbsDiff).toBeCloseTo(0.004, 5);
    expect(c.scale).toBeCloseTo(10.004, 5);
    expect(c.relDiff).toBeCloseTo(0.004 / 10.004, 6);
    expect(c.ok).toBe(true);
    expect(c.argmax).toEqual({ engine: 1, reference: 0, agree: false, nearTie: true });
    expect(c.top5.engine.map((t) => t.id)).toEqual([1, 0, 3, 2]);
    // The same swap with a margin of 0.5 is a real disagreement (and over the tolerance).
    c = compareLogits(Float32Array.from([10, 10.5, -3, 0]), Float32Array.from([10.5, 10, -3, 0]), 1e-3, tok);
    expect([c.ok, c.argmax.agree, c.argmax.nearTie]).toEqual([false, false, false]);
    // A NaN is never a small difference.
    c = compareLogits(Float32Array.from([Number.NaN, 1, 0, 0]), Float32Array.from([0, 1, 0, 0]), 1e-3, tok);
    expect([Number.isNaN(c.maxAbsDiff), c.ok]).toEqual([true, false]);
  });
});

describe('scripts/check-smolvlm.ts without the network', () => {
  it('no local model and no network: exit 2 and one line naming the Hub, the file and how to run offline', async () => {
    const r = await run(['--images', images, '--cache-dir', cacheDir()]);
    expect(r.code).toBe(2);
    expect(r.out).toEqual([]);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(
      /^check-smolvlm: cannot reach https:\/\/huggingface\.co to download HuggingFaceTB\/SmolVLM-256M-Instruct\/config\.json \(ENOTFOUND\): no network\? run it offline .*--model DIR/,
    );
  });

  it('the same under tsx against a closed local port: exit 2, one stderr line, no stack trace', async () => {
    // A port that was free a moment ago: nothing listens there, so the connection is refused.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    const r = spawnSync(
      process.execPath,
      [
        path.join(root, 'node_modules/tsx/dist/cli.mjs'),
        'scripts/check-smolvlm.ts',
        '--images',
        images,
        '--cache-dir',
        cacheDir(),
        '--endpoint',
        `http://127.0.0.1:${port}`,
      ],
      { cwd: root, encoding: 'utf8', timeout: 120_000 },
    );
    expect(r.status, r.stderr).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^check-smolvlm: cannot reach http:\/\/127\.0\.0\.1:\d+ to download HuggingFaceTB\/SmolVLM-256M-Instruct\/config\.json \(ECONNREFUSED\)/,
    );
    expect(r.stdout).toBe('');
  }, 120_000);

  it('a model folder that lacks files: exit 2 naming each missing file, before any download or GPU', async () => {
    const partial = path.join(dir, 'partial');
    mkdirSync(partial);
    copyFileSync(path.join(tiny, 'config.json'), path.join(partial, 'config.json'));
    copyFileSync(path.join(tiny, 'tokenizer.json'), path.join(partial, 'tokenizer.json'));
    let fetched = 0;
    const r = await run(['--model', partial, '--images', images, '--cache-dir', cacheDir()], (async () => {
      fetched++;
      throw new Error('no');
    }) as unknown as typeof fetch);
    expect(r.code).toBe(2);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(
      /partial: model\.safetensors, preprocessor_config\.json, processor_config\.json, chat_template\.json \(or a chat_template in tokenizer_config\.json\) are missing/,
    );
    expect(fetched).toBe(0);
  });

  it('bad options: exit 2 with the usage; an images folder with nothing to ask about', async () => {
    let r = await run(['--dtype', 'fp8']);
    expect([r.code, r.err[0]]).toEqual([2, expect.stringMatching(/--dtype must be one of fp32, fp16/)]);
    r = await run(['--n', '0']);
    expect(r.err[0]).toMatch(/--n must be a whole number >= 1/);
    const empty = mkdtempSync(path.join(dir, 'empty-'));
    r = await run(['--model', tiny, '--images', empty]);
    expect([r.code, r.err[0]]).toEqual([2, expect.stringMatching(/neither a VQA-RAD folder .* nor a folder of PNG\/JPEG images/)]);
  });

  it('a SmolVLM-shaped model with its ONNX files in onnx/: the engine and transformers.js agree, offline', async () => {
    const r = await run(['--model', tiny, '--images', images, '--n', '2', '--max-new-tokens', '6', '--json', '--cache-dir', cacheDir()]);
    expect(r.code, r.err.join('\n')).toBe(0);
    expect(r.out).toHaveLength(1);
    const rep = JSON.parse(r.out[0]) as { pass: boolean; dtype: string; tolerance: number; reference: string; items: ItemReport[] };
    expect(rep).toMatchObject({ pass: true, dtype: 'fp32', tolerance: 2e-3 });
    expect(rep.reference).toMatch(/^transformers\.js 4\.\d+\.\d+, ONNX fp32 on onnxruntime-node/);
    expect(rep.items.map((x) => [x.label, x.image.rows, x.image.cols, x.image.tiles])).toEqual([
      ['a-square.png', 2, 2, 5],
      ['b-wide.png', 1, 2, 3],
    ]);
    for (const x of rep.items) {
      // transformers.js's own processor builds the same token sequence (template, tile grid, <image> runs).
      expect(x.inputIds).toMatchObject({ same: true, referenceLength: x.promptTokens });
      expect(x.logits.relDiff).toBeLessThan(1e-4);
      expect(x.logits.argmax.agree).toBe(true);
      expect(x.logits.top5.engine.map((t) => t.id)).toEqual(x.logits.top5.reference.map((t) => t.id));
      expect(x.greedy.same).toBe(true);
      expect(x.greedy.engine.ids.length).toBeGreaterThan(0);
      expect(x.pixels!.maxAbsDiff).toBeGreaterThanOrEqual(0);
      expect(x.ownInputs).not.toBeNull();
    }
    // The human report says the same.
    const text = await run(['--model', tiny, '--images', images, '--n', '1', '--max-new-tokens', '4', '--cache-dir', cacheDir()]);
    expect(text.code).toBe(0);
    expect(text.out.join('\n')).toMatch(/input ids: identical[\s\S]*argmax: agrees[\s\S]*greedy: identical[\s\S]*PASS: 1 of 1 questions agree/);
  }, 300_000);

  it('a vision graph that skips pixel shuffle (--onnx-dir, a folder of .onnx files): exit 1, saying where', async () => {
    const r = await run(['--model', tiny, '--onnx-dir', badOnnx, '--images', images, '--n', '1', '--max-new-tokens', '4', '--cache-dir', cacheDir()]);
    expect(r.code, r.err.join('\n')).toBe(1);
    const text = r.out.join('\n');
    expect(text).toMatch(/first-token logits, same inputs: .* OVER/);
    expect(text).toMatch(/FAIL: first-token logits differ by .* over the tolerance 0\.002/);
    expect(text).toMatch(/FAIL: 1 of 1 questions disagree$/);
  }, 300_000);

  it('downloads from a Hub (a local stand-in) into the cache, resuming a cut file, then runs from the cache; a dtype the repo lacks is named', async () => {
    const hub = await startHub({ 'test/smolvlm-tiny': tiny });
    try {
      const cache = cacheDir();
      const args = [
        '--model',
        'test/smolvlm-tiny',
        '--endpoint',
        hub.url,
        '--cache-dir',
        cache,
        '--images',
        images,
        '--n',
        '1',
        '--max-new-tokens',
        '4',
        '--json',
      ];
      // The weights break off part-way: exit 2 saying so, and what arrived is kept for the next run.
      const weights = readFileSync(path.join(tiny, 'model.safetensors'));
      hub.cut.set('model.safetensors', Math.floor(weights.length / 2));
      let r = await run(args, fetch);
      expect(r.code).toBe(2);
      expect(r.err.at(-1)).toMatch(
        /^check-smolvlm: test\/smolvlm-tiny\/model\.safetensors: the download of model\.safetensors was cut after \d+ of \d+ bytes .*run again to resume/,
      );
      hub.cut.clear();
      hub.requests.length = 0;
      r = await run(args, fetch);
      expect(r.code, r.err.join('\n')).toBe(0);
      expect(JSON.parse(r.out[0]).pass).toBe(true);
      expect(hub.requests.find((q) => q.file === 'model.safetensors')).toMatchObject({ status: 206, range: expect.stringMatching(/^bytes=\d+-$/) });
      // The rest of the files once each (config.json came in the first run), none twice.
      const got = hub.requests.filter((q) => q.status === 200).map((q) => q.file);
      expect(got).not.toContain('config.json');
      expect(got).toEqual(
        expect.arrayContaining([
          'tokenizer.json',
          'processor_config.json',
          'onnx/vision_encoder.onnx',
          'onnx/embed_tokens.onnx',
          'onnx/decoder_model_merged.onnx',
        ]),
      );
      expect(new Set(got).size).toBe(got.length);
      expect(readFileSync(path.join(cache, 'test/smolvlm-tiny/model.safetensors'))).toEqual(readFileSync(path.join(tiny, 'model.safetensors')));
      const before = hub.requests.length;
      r = await run(args, fetch);
      expect(r.code).toBe(0);
      expect(hub.requests.length).toBe(before);

      // A folder name mistyped (no such folder) is taken as a repo id, and the Hub says it has none.
      r = await run(['--model', 'no/such-model', '--endpoint', hub.url, '--cache-dir', cache, '--images', images], fetch);
      expect([r.code, r.err]).toEqual([
        2,
        [
          expect.stringMatching(
            /--model no\/such-model: no such folder here, and not a model repo on http:\/\/127\.0\.0\.1:\d+ \(no\/such-model\/config\.json: /,
          ),
        ],
      ]);

      r = await run([...args, '--dtype', 'fp16'], fetch);
      expect(r.code).toBe(2);
      expect(r.err.at(-1)).toMatch(
        /^check-smolvlm: test\/smolvlm-tiny\/onnx\/\w+_fp16\.onnx: file onnx\/\w+_fp16\.onnx was not found \(HTTP 404\).*; test\/smolvlm-tiny may not publish fp16 ONNX files: pick another with --dtype/,
      );
    } finally {
      await hub.close();
    }
  }, 300_000);

  it.skipIf(!HAS_DATA)(
    'VQA-RAD: the first closed test questions with their options',
    async () => {
      const r = await run(['--model', tiny, '--images', DATA_DIR, '--n', '2', '--max-new-tokens', '4', '--json', '--cache-dir', cacheDir()]);
      expect(r.code, r.err.join('\n')).toBe(0);
      const rep = JSON.parse(r.out[0]) as { items: ItemReport[]; questions: string };
      expect(rep.questions).toMatch(/^VQA-RAD test, the first 2 closed questions/);
      expect(rep.items).toHaveLength(2);
      expect(rep.items[0].label).toMatch(/^vqa_rad_closed\[\d+\] images\/synpic\d+\.jpg$/);
      expect(rep.items[0].question).toMatch(/\?\n\nA\. \S+\nB\. /);
    },
    300_000,
  );
});
