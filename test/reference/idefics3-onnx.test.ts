// Idefics3 (SmolVLM) through ONNX graphs on onnxruntime (test/reference/onnx-idefics3.ts), against
// the PyTorch fixture and, at SmolVLM-256M's real widths, against the engine and the float64
// reference: three implementations that share no arithmetic, compared on the logits.
//
// The SmolVLM-256M-shaped model keeps its real config where it sets the widths and the semantics:
//   vision: hidden 768, 12 heads (head 64), intermediate 3072, patch 16, 3 channels,
//           layer_norm_eps 1e-6, gelu_pytorch_tanh, scale_factor 4 (connector 768·16 = 12288 -> 576);
//   text:   hidden 576, 9 heads / 3 KV heads, head_dim 64, intermediate 1536, vocab 49280,
//           rope_theta 100000, rms_norm_eps 1e-5, untied lm_head, image_token_id 49190.
// What is shrunk, only for time (this file has to stay well under a minute on 2 CPU cores, where the
// engine runs on SwiftShader and the float64 loops and onnxruntime on the CPU): 1 vision layer
// instead of 12 and 2 text layers instead of 30 (every layer is the same computation, so more of
// them test nothing new; 2 text layers still feed one layer's output into the next), and tiles of
// 128 pixels instead of 512 (8 x 8 = 64 patches, 4 tokens per tile after the 4x shuffle, instead
// of 1024 patches and 64 tokens; the position table shrinks with it), 2 tiles in a 32-token prompt.
// The vocabulary, and so the 49280 x 576 embedding table and lm_head, is full size. Weights are
// seeded random with the PyTorch fixture's deviations (drawn uniform, which is faster):
// matrices 1/sqrt(fan_in) (the conv's fan-in is C·p·p), norm gains 1 ± 0.1, biases 0.1,
// embeddings 0.5, so activations stay O(1) and every bias counts.
// The engine runs on the device's own kernel path only (row kernels on SwiftShader): the workgroup
// path at these widths takes ~35 s on SwiftShader on 2 cores against ~4 s for the row path; both
// paths are checked on the tiny fixture by test/model/idefics3.test.ts.

import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-web';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeLlamaOnnx } from '../../src/io/onnx-export';
import { CommandStream } from '../../src/engine/stream';
import { download } from '../../src/engine/tensor';
import { configFromHfJson, loadHfFolder } from '../../src/io/hf-config';
import { readSafetensors } from '../../src/io/safetensors';
import { nodeDirSource } from '../../src/io/workspace';
import { Activations } from '../../src/model/activations';
import { uploadBatch } from '../../src/model/batch';
import { imageTokens, type ModelConfig, paramSpecs, type TextConfig } from '../../src/model/config';
import { textForward } from '../../src/model/forward';
import { Model, type WeightMap } from '../../src/model/model';
import { idefics3Patches } from '../../src/model/patches';
import { rng, testGpu } from '../helpers/gpu';
import * as ref from './llama-f64';
import { onnxIdefics3Logits, runGraph } from './onnx-idefics3';

/** Largest |got - want| relative to the largest |want|. */
function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    worst = Math.max(worst, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return worst / scale;
}

const plain = (w: WeightMap): ref.Weights => new Map([...w].map(([k, v]) => [k, v.data]));

describe('Idefics3 ONNX graph vs PyTorch (test/fixtures/idefics3-tiny)', () => {
  it('image features and logits match the fixture to 1e-5', async () => {
    const dir = path.join(__dirname, '..', 'fixtures', 'idefics3-tiny');
    const { config, weights } = await loadHfFolder(nodeDirSource(dir));
    const refT = readSafetensors(new Uint8Array(fs.readFileSync(path.join(dir, 'reference.safetensors'))), 'reference.safetensors');
    const want = (name: string) => refT.get(name)!.data;
    const ids = [Array.from(want('input_ids'), Number)];
    const got = await onnxIdefics3Logits(config, plain(weights), ids, want('pixel_values') as Float32Array);
    const errs = { features: relErr(got.features, want('image_features')), logits: relErr(got.logits, want('logits')) };
    console.log('idefics3-tiny, ONNX vs PyTorch (max error / max |value|):', errs);
    expect(errs.features).toBeLessThan(1e-5);
    expect(errs.logits).toBeLessThan(1e-5);
  });
});

describe('the exporter text graph on inputs_embeds', () => {
  it('gives the input_ids graph its logits when fed the embedding rows (tied and untied head)', async () => {
    for (const tie of [true, false]) {
      const text: TextConfig = {
        architecture: 'llama',
        vocabSize: 40,
        hiddenSize: 16,
        intermediateSize: 24,
        numLayers: 1,
        numHeads: 4,
        numKvHeads: 2,
        headDim: 4,
        rmsNormEps: 1e-5,
        ropeTheta: 10000,
        maxPositionEmbeddings: 32,
        tieWordEmbeddings: tie,
        qkvBias: false,
        oBias: false,
        mlpBias: false,
      };
      const cfg: ModelConfig = { text };
      const r = rng(tie ? 1 : 2);
      const w: ref.Weights = new Map(
        paramSpecs(cfg).map((s) => [s.name, Float32Array.from({ length: s.shape.reduce((a, b) => a * b, 1) }, () => 0.5 * r.uniform())]),
      );
      const get = (name: string) => w.get(name)!;
      const ids = [3, 9, 0, 39, 17, 9];
      const T = ids.length;
      const layout = { kind: 'fixed', B: 1, T } as const;
      const byIds = await runGraph(
        encodeLlamaOnnx(cfg, get, { layout }),
        { input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, T]) },
        'logits',
      );
      const table = get('model.embed_tokens.weight');
      const rows = new Float32Array(T * 16);
      ids.forEach((id, t) => rows.set(table.subarray(id * 16, (id + 1) * 16), t * 16));
      const byEmbeds = await runGraph(
        encodeLlamaOnnx(cfg, get, { layout, inputsEmbeds: true }),
        { inputs_embeds: new ort.Tensor('float32', rows, [1, T, 16]) },
        'logits',
      );
      expect(Array.from(byEmbeds)).toEqual(Array.from(byIds));
    }
  });
});

/** SmolVLM-256M-Instruct's config.json, with the layer counts and tile size cut as the header says. */
const SMOLVLM_256M_SHAPED: ModelConfig = configFromHfJson(
  {
    architectures: ['Idefics3ForConditionalGeneration'],
    model_type: 'idefics3',
    image_token_id: 49190,
    scale_factor: 4,
    tie_word_embeddings: false,
    text_config: {
      model_type: 'llama',
      architectures: ['VLlama3ForCausalLM'],
      hidden_size: 576,
      intermediate_size: 1536,
      num_hidden_layers: 2, // real: 30
      num_attention_heads: 9,
      num_key_value_heads: 3,
      head_dim: 64,
      vocab_size: 49280,
      rms_norm_eps: 1e-5,
      rope_theta: 100000,
      max_position_embeddings: 8192,
      tie_word_embeddings: false,
    },
    vision_config: {
      model_type: 'idefics3',
      hidden_size: 768,
      intermediate_size: 3072,
      num_hidden_layers: 1, // real: 12
      num_attention_heads: 12,
      patch_size: 16,
      image_size: 128, // real: 512
      num_channels: 3,
      layer_norm_eps: 1e-6,
      hidden_act: 'gelu_pytorch_tanh',
    },
  },
  'SmolVLM-256M-shaped config',
);

/** Seeded weights in the fixture's scheme (see the header), drawn uniform with those deviations (fast to draw). */
function smolWeights(cfg: ModelConfig, seed: number): WeightMap {
  const r = rng(seed);
  const out: WeightMap = new Map();
  const a = Math.sqrt(3); // uniform(-a, a) has unit variance
  for (const s of paramSpecs(cfg)) {
    const n = s.shape.reduce((x, y) => x * y, 1);
    const data = new Float32Array(n);
    const gain = /norm\d?\.weight$/.test(s.name);
    // Matrices: fan-in is every dimension after [out] (the conv's C·p·p).
    const std =
      gain || s.name.endsWith('.bias')
        ? 0.1
        : /embed_tokens|position_embedding/.test(s.name)
          ? 0.5
          : 1 / Math.sqrt(s.shape.slice(1).reduce((x, y) => x * y, 1));
    for (let i = 0; i < n; i++) data[i] = (gain ? 1 : 0) + std * a * r.uniform();
    out.set(s.name, { shape: [...s.shape], data });
  }
  return out;
}

interface Outputs {
  logits: ArrayLike<number>;
  features: ArrayLike<number>;
}

/** The shaped model, its input, and the float64 and ONNX outputs, made once for the whole file. */
const smol = (() => {
  let made: Promise<{ cfg: ModelConfig; weights: WeightMap; ids: number[]; tiles: Float32Array; nTiles: number; f64: Outputs; onnx: Outputs }> | undefined;
  return () =>
    (made ??= (async () => {
      const cfg = SMOLVLM_256M_SHAPED;
      const v = cfg.idefics3!;
      let t0 = performance.now();
      const lap = (what: string) => {
        console.log(`SmolVLM-256M-shaped, ${what}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        t0 = performance.now();
      };
      const weights = smolWeights(cfg, 256);
      const w = plain(weights);
      // Two tiles; a prompt with each tile's 4 <image> tokens inside random text.
      const nTiles = 2;
      const r = rng(7);
      const tiles = Float32Array.from({ length: nTiles * v.channels * v.imageSize ** 2 }, () => r.uniform());
      const img = cfg.imageTokenId!;
      const word = () => {
        const id = r.int(cfg.text.vocabSize - 1);
        return id >= img ? id + 1 : id;
      };
      const text = (k: number) => Array.from({ length: k }, word);
      const ids = [...text(5), ...Array(4).fill(img), ...text(9), ...Array(4).fill(img), ...text(10)];
      lap('weights and input');
      const features = ref.idefics3VisionForward(cfg, w, tiles).features;
      const f64 = { features, logits: ref.forwardLogits(cfg, w, [ids], { imageFeatures: features }) };
      lap('float64 reference');
      const onnx = await onnxIdefics3Logits(cfg, w, [ids], tiles);
      lap('ONNX graphs on onnxruntime-web');
      return { cfg, weights, ids, tiles, nTiles, f64, onnx };
    })());
})();

function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
  return m;
}

describe('SmolVLM-256M-shaped model: float64 reference vs ONNX', () => {
  it('image features and logits agree to 1e-4', async () => {
    const { cfg, ids, f64, onnx } = await smol();
    expect(imageTokens(cfg)).toBe(4);
    expect(ids).toHaveLength(32);
    // Non-trivial outputs: logits spread over units, features O(1).
    expect(maxAbs(f64.logits)).toBeGreaterThan(2);
    expect(maxAbs(f64.features)).toBeGreaterThan(0.5);
    const errs = { features: relErr(onnx.features, f64.features), logits: relErr(onnx.logits, f64.logits) };
    console.log('SmolVLM-256M-shaped, ONNX vs float64 (max error / max |value|):', errs);
    expect(errs.features).toBeLessThan(1e-4);
    expect(errs.logits).toBeLessThan(1e-4);
  });
});

describe('SmolVLM-256M-shaped model: engine vs float64 reference and ONNX', () => {
  let model: Model | undefined;
  afterAll(() => model?.release());

  it('image features and logits agree to 1e-4', async () => {
    const { cfg, weights, ids, tiles, nTiles, f64, onnx } = await smol();
    const t0 = performance.now();
    const gpu = await testGpu();
    const kernels = gpu.rowKernels ? 'row kernels' : 'workgroup kernels';
    model = new Model(gpu, cfg);
    model.loadWeights(weights);
    const T = ids.length;
    const acts = new Activations(gpu, cfg, { B: 1, T, nImages: nTiles, training: false });
    const s = new CommandStream(gpu, 'idefics3-onnx');
    uploadBatch(model, acts, { B: 1, T, ids: Uint32Array.from(ids), nImages: nTiles, patches: idefics3Patches(tiles, cfg.idefics3!) });
    textForward(s, model, acts);
    await s.sync();
    const engine = { logits: await download(gpu, acts.get('logits')), features: await download(gpu, acts.get('feats')) };
    acts.release();
    s.destroy();
    console.log(`SmolVLM-256M-shaped, engine (${kernels}): ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const errs = {
      features: { vsF64: relErr(engine.features, f64.features), vsOnnx: relErr(engine.features, onnx.features) },
      logits: { vsF64: relErr(engine.logits, f64.logits), vsOnnx: relErr(engine.logits, onnx.logits) },
    };
    console.log(`SmolVLM-256M-shaped, engine (${kernels}) (max error / max |value|):`, JSON.stringify(errs));
    for (const e of [errs.features.vsF64, errs.features.vsOnnx, errs.logits.vsF64, errs.logits.vsOnnx]) expect(e).toBeLessThan(1e-4);
  });
});
