// Checks the two reference implementations of the model against each other (ONNX graph on
// onnxruntime-web vs plain float64 loops) and against invariants that can be worked out by hand.

import { describe, expect, it } from 'vitest';
import { type ModelConfig, type TextConfig, type VisionConfig, paramSpecs, patchDim, patchesPerImage } from '../../src/model/config';
import { compare, rng } from '../helpers/gpu';
import {
  type Weights,
  applyRope,
  argmax,
  attention,
  checkWeights,
  embed,
  forwardLogits,
  geluTanh,
  greedyDecode,
  linear,
  logitsFromEmbeddings,
  visionForward,
} from './llama-f64';
import { buildOnnxModel, onnxLogits } from './onnx-llama';

function textConfig(over: Partial<TextConfig> = {}): TextConfig {
  return {
    architecture: 'llama',
    vocabSize: 50,
    hiddenSize: 32,
    intermediateSize: 40,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 8,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    maxPositionEmbeddings: 64,
    tieWordEmbeddings: true,
    qkvBias: false,
    oBias: false,
    mlpBias: false,
    ...over,
  };
}

/** Seeded weights: norm gains near 1, everything else uniform in ±scale (embeddings a bit larger)
 * so attention is far from uniform and logits spread over several units. */
function randomWeights(cfg: ModelConfig, seed: number, scale = 0.3): Weights {
  const r = rng(seed);
  const w: Weights = new Map();
  for (const s of paramSpecs(cfg)) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const isGain = s.name.endsWith('norm.weight') || s.name.endsWith('layernorm.weight');
    const k = s.name.includes('embed') ? 0.5 : s.name.endsWith('.bias') ? 0.2 : scale;
    w.set(
      s.name,
      Float32Array.from({ length: n }, () => (isGain ? 1 + 0.2 * r.uniform() : k * r.uniform())),
    );
  }
  return w;
}

function randomIds(B: number, T: number, V: number, seed: number): number[][] {
  const r = rng(seed);
  return Array.from({ length: B }, () => Array.from({ length: T }, () => r.int(V)));
}

function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
  return m;
}

/** 1e-4 relative, measured against the largest logit so values near zero are not held to 1e-4 of themselves. */
function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, rel = 1e-4) {
  const r = compare(got, want, rel * maxAbs(want), rel);
  expect(r.ok, r.msg).toBe(true);
}

const CONFIGS: [string, ModelConfig, number, number][] = [
  ['GQA 4/2, tied head, no bias', { text: textConfig() }, 2, 7],
  [
    'MQA 4/1, qkv bias, untied head, head_dim 6 != hidden/heads, theta 500',
    { text: textConfig({ architecture: 'qwen2', numKvHeads: 1, headDim: 6, qkvBias: true, tieWordEmbeddings: false, ropeTheta: 500 }) },
    2,
    9,
  ],
  [
    'MHA, o/mlp bias, untied head, 1 layer, odd sizes',
    {
      text: textConfig({
        vocabSize: 37,
        hiddenSize: 20,
        intermediateSize: 27,
        numLayers: 1,
        numHeads: 2,
        numKvHeads: 2,
        headDim: 10,
        qkvBias: true,
        oBias: true,
        mlpBias: true,
        tieWordEmbeddings: false,
        rmsNormEps: 1e-6,
      }),
    },
    1,
    5,
  ],
];

describe('ONNX graph vs float64 reference', () => {
  for (const [name, cfg, B, T] of CONFIGS) {
    it(name, async () => {
      const w = randomWeights(cfg, 11 + T);
      checkWeights(cfg, w);
      const ids = randomIds(B, T, cfg.text.vocabSize, 3 + T);
      const want = forwardLogits(cfg, w, ids);
      const got = await onnxLogits(cfg, w, ids);
      expect(got.length).toBe(B * T * cfg.text.vocabSize);
      // Non-trivial logits: agreement on near-constant outputs would prove little.
      expect(maxAbs(want)).toBeGreaterThan(1);
      expectClose(got, want);

      // RoPE must actually matter here, or agreement would not pin it down: with stretched
      // positions (relative distances doubled) the f64 logits must no longer match.
      const shifted = forwardLogits(cfg, w, ids, { positionIds: ids.map(() => Array.from({ length: T }, (_, i) => 2 * i)) });
      expect(compare(got, shifted, 1e-4 * maxAbs(want), 1e-4).ok).toBe(false);
    });
  }

  it('greedy decoding picks the ONNX argmax at every step', async () => {
    const cfg: ModelConfig = { text: textConfig() };
    const w = randomWeights(cfg, 5);
    const prompt = [3, 17, 42];
    const gen = greedyDecode(cfg, w, prompt, 5);
    expect(gen).toHaveLength(5);
    const seq = [...prompt, ...gen];
    const V = cfg.text.vocabSize;
    const logits = await onnxLogits(cfg, w, [seq.slice(0, -1)]);
    for (let s = 0; s < gen.length; s++) expect(argmax(logits, (prompt.length - 1 + s) * V, V)).toBe(gen[s]);
  });

  it('model bytes are a self-contained ONNX file for a fixed [B, T]', () => {
    const cfg: ModelConfig = { text: textConfig() };
    const bytes = buildOnnxModel(cfg, randomWeights(cfg, 1), 1, 4);
    // Every float weight is an initializer, so the file is at least as large as the parameters.
    const nParams = paramSpecs(cfg).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
    expect(bytes.length).toBeGreaterThan(4 * nParams);
  });
});

describe('float64 forward invariants', () => {
  const cfg: ModelConfig = { text: textConfig() };
  const w = randomWeights(cfg, 21);
  const V = cfg.text.vocabSize;

  it('is causal: later tokens never change earlier logits', () => {
    const T = 8;
    const ids = randomIds(1, T, V, 9);
    const base = forwardLogits(cfg, w, ids);
    for (const at of [T - 1, 3]) {
      const changed = ids.map((s) => s.slice());
      changed[0][at] = (changed[0][at] + 7) % V;
      const other = forwardLogits(cfg, w, changed);
      expect(Array.from(other.subarray(0, at * V))).toEqual(Array.from(base.subarray(0, at * V)));
      // ...and the change does reach the changed position, so the check above is not vacuous.
      expect(maxAbs(other.subarray(at * V).map((v, i) => v - base[at * V + i]))).toBeGreaterThan(1e-3);
    }
  });

  it('sequences in a batch are independent', () => {
    const ids = randomIds(3, 5, V, 4);
    const all = forwardLogits(cfg, w, ids);
    for (let b = 0; b < 3; b++) expect(Array.from(forwardLogits(cfg, w, [ids[b]]))).toEqual(Array.from(all.subarray(b * 5 * V, (b + 1) * 5 * V)));
  });

  it('logits depend only on relative positions (RoPE)', () => {
    const ids = randomIds(1, 6, V, 8);
    const base = forwardLogits(cfg, w, ids);
    const moved = forwardLogits(cfg, w, ids, { positionIds: [[5, 6, 7, 8, 9, 10]] });
    const r = compare(moved, base, 1e-9, 1e-9);
    expect(r.ok, r.msg).toBe(true);
    const spread = forwardLogits(cfg, w, ids, { positionIds: [[0, 2, 4, 6, 8, 10]] });
    expect(compare(spread, base, 1e-4, 1e-4).ok).toBe(false);
  });

  it('with zeroed attention and MLP outputs, logits = norm(embedding) · embeddingᵀ (tied head, final norm)', () => {
    const c1: ModelConfig = { text: textConfig({ numLayers: 1, rmsNormEps: 1e-3 }) };
    const w1 = randomWeights(c1, 33);
    w1.set('model.layers.0.self_attn.o_proj.weight', new Float32Array(w1.get('model.layers.0.self_attn.o_proj.weight')!.length));
    w1.set('model.layers.0.mlp.down_proj.weight', new Float32Array(w1.get('model.layers.0.mlp.down_proj.weight')!.length));
    const d = c1.text.hiddenSize;
    const E = w1.get('model.embed_tokens.weight')!;
    const g = w1.get('model.norm.weight')!;
    const ids = [[4, 0, 49, 4, 17]];
    const got = forwardLogits(c1, w1, ids);
    ids[0].forEach((id, t) => {
      let ss = 0;
      for (let i = 0; i < d; i++) ss += E[id * d + i] ** 2;
      const s = 1 / Math.sqrt(ss / d + 1e-3);
      for (let v = 0; v < V; v++) {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += E[id * d + i] * s * g[i] * E[v * d + i];
        expect(got[t * V + v]).toBeCloseTo(dot, 10);
      }
    });
  });

  it('RoPE: identity at position 0, rotate_half pairing and theta^(-2i/hd) frequencies', () => {
    const r = rng(2);
    const x = Float64Array.from({ length: 3 * 8 }, () => r.uniform());
    const y = x.slice();
    applyRope(y, [0], 3, 8, 10000);
    expect(Array.from(y)).toEqual(Array.from(x));

    // hd = 4, theta = 100: element 0 pairs with 2 at angle p, element 1 with 3 at angle p/10.
    const e = new Float64Array([1, 0, 0, 0, 0, 1, 0, 0]); // two tokens, one head
    applyRope(e, [3, 5], 1, 4, 100);
    const want = [Math.cos(3), 0, Math.sin(3), 0, 0, Math.cos(0.5), 0, Math.sin(0.5)];
    e.forEach((v, i) => expect(v).toBeCloseTo(want[i], 14));
  });

  it('attention: one token returns its own value; query head h reads kv head floor(h / (H/KV))', () => {
    const H = 4,
      KV = 2,
      hd = 3;
    const q = Float64Array.from({ length: H * hd }, (_, i) => i * 0.1);
    const k = Float64Array.from({ length: KV * hd }, (_, i) => -i * 0.2);
    const v = Float64Array.from({ length: KV * hd }, (_, i) => i + 1);
    const out = attention(q, k, v, 1, H, KV, hd, true);
    expect(Array.from(out)).toEqual([1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6]);
  });
});

describe('vision path', () => {
  const vision: VisionConfig = { imageSize: 6, patchSize: 2, channels: 2, hiddenSize: 16, intermediateSize: 24, numLayers: 2, numHeads: 2, rmsNormEps: 1e-5 };
  const cfg: ModelConfig = { text: textConfig(), vision, imageTokenId: 49 };
  const w = randomWeights(cfg, 41);
  const P = patchesPerImage(vision); // 9
  const pd = patchDim(vision); // 8
  const D = cfg.text.hiddenSize;
  const patches = (n: number, seed: number) => {
    const r = rng(seed);
    return Float32Array.from({ length: n * P * pd }, () => r.uniform());
  };

  it('GELU is the tanh approximation', () => {
    expect(geluTanh(1)).toBeCloseTo(0.8411919906, 9);
    expect(geluTanh(-2)).toBeCloseTo(-0.0454023059, 9);
  });

  it('output is [numImages*numPatches, textHidden]; images are independent; attention is bidirectional', () => {
    const x = patches(2, 1);
    const out = visionForward(cfg, w, x);
    expect(out.length).toBe(2 * P * D);
    expect(out.every(Number.isFinite)).toBe(true);
    const second = visionForward(cfg, w, x.subarray(P * pd));
    expect(Array.from(second)).toEqual(Array.from(out.subarray(P * D)));
    // Changing the last patch moves the first patch's feature: no causal mask in the encoder.
    const y = x.slice(0, P * pd);
    y[(P - 1) * pd] += 1;
    const moved = visionForward(cfg, w, y);
    expect(maxAbs(moved.subarray(0, D).map((v, i) => v - out[i]))).toBeGreaterThan(1e-4);
    expect(() => visionForward(cfg, w, x.subarray(1))).toThrow();
  });

  it('with zeroed block outputs, features = fc2(gelu(fc1(norm(patch_embed(x) + pos))))', () => {
    const wz = new Map(w);
    for (let l = 0; l < vision.numLayers; l++) {
      for (const n of ['self_attn.o_proj.weight', 'mlp.down_proj.weight'])
        wz.set(`vision.layers.${l}.${n}`, new Float32Array(w.get(`vision.layers.${l}.${n}`)!.length));
    }
    const x = patches(1, 2);
    const got = visionForward(cfg, wz, x);
    const dv = vision.hiddenSize;
    const pe = w.get('vision.patch_embed.weight')!,
      pb = w.get('vision.patch_embed.bias')!,
      pos = w.get('vision.pos_embed')!;
    const gn = w.get('vision.norm.weight')!;
    const f1 = w.get('vision.projector.fc1.weight')!,
      b1 = w.get('vision.projector.fc1.bias')!;
    const f2 = w.get('vision.projector.fc2.weight')!,
      b2 = w.get('vision.projector.fc2.bias')!;
    for (let p = 0; p < P; p++) {
      const e = Array.from({ length: dv }, (_, o) => {
        let s = pb[o] + pos[p * dv + o];
        for (let i = 0; i < pd; i++) s += pe[o * pd + i] * x[p * pd + i];
        return s;
      });
      const rms = Math.sqrt(e.reduce((a, v) => a + v * v, 0) / dv + vision.rmsNormEps);
      const n = e.map((v, i) => (v / rms) * gn[i]);
      const h = Array.from({ length: D }, (_, o) => {
        let s = b1[o];
        for (let i = 0; i < dv; i++) s += f1[o * dv + i] * n[i];
        const u = Math.sqrt(2 / Math.PI) * (s + 0.044715 * s ** 3);
        return 0.5 * s * (1 + Math.tanh(u));
      });
      for (let o = 0; o < D; o++) {
        let s = b2[o];
        for (let i = 0; i < D; i++) s += f2[o * D + i] * h[i];
        expect(got[p * D + o]).toBeCloseTo(s, 10);
      }
    }
  });

  it('image features replace the image-token embeddings, in order', () => {
    const img = 49;
    const feats = visionForward(cfg, w, patches(2, 3));
    // Two sequences, one image each, at different offsets.
    const ids = [
      [1, ...Array(P).fill(img), 7, 8],
      [5, 6, 9, ...Array(P).fill(img)],
    ];
    const T = ids[0].length;
    const got = forwardLogits(cfg, w, ids, { imageFeatures: feats });
    const byHand = embed(cfg, w, ids);
    for (let b = 0; b < 2; b++) {
      const start = b === 0 ? 1 : 3;
      for (let p = 0; p < P; p++) byHand.set(feats.subarray((b * P + p) * D, (b * P + p + 1) * D), (b * T + start + p) * D);
    }
    expect(Array.from(got)).toEqual(Array.from(logitsFromEmbeddings(cfg, w, byHand, 2, T)));
    // Without features the placeholder embedding is used, which must give different logits.
    expect(compare(forwardLogits(cfg, w, ids), got, 1e-4, 1e-4).ok).toBe(false);
    expect(() => forwardLogits(cfg, w, ids, { imageFeatures: feats.subarray(D) })).toThrow(/image/);
  });

  it('a one-patch image fills exactly one image token', () => {
    const one: ModelConfig = { text: textConfig(), vision: { ...vision, imageSize: 2 }, imageTokenId: 0 };
    const w1 = randomWeights(one, 51);
    const x = Float32Array.from({ length: pd }, (_, i) => Math.sin(i));
    const feat = visionForward(one, w1, x);
    expect(feat.length).toBe(D);
    const ids = [[3, 0, 8, 9]];
    const byHand = embed(one, w1, ids);
    byHand.set(feat, D);
    expect(Array.from(forwardLogits(one, w1, ids, { imageFeatures: feat }))).toEqual(Array.from(logitsFromEmbeddings(one, w1, byHand, 1, 4)));
    // Only the image row's input changed, so logits before it match the text-only forward exactly.
    const plain = forwardLogits(one, w1, ids);
    const withImg = forwardLogits(one, w1, ids, { imageFeatures: feat });
    expect(Array.from(withImg.subarray(0, cfg.text.vocabSize))).toEqual(Array.from(plain.subarray(0, cfg.text.vocabSize)));
  });
});

// `linear` is exported for the engine tests; a direct check keeps its [out, in] convention pinned.
it('linear computes x·Wᵀ + b with W in [out, in] layout', () => {
  const y = linear(new Float64Array([1, 2, 3]), 1, 3, [1, 0, 0, 0, 1, 1], 2, [10, 20]);
  expect(Array.from(y)).toEqual([11, 25]);
});
