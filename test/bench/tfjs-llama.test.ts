// The bench's tfjs baseline must be the lab's model: its logits match the float64 reference for
// the same weights, its loss and gradients match the reference's, and its optimizer step is the
// engine's (clip, then AdamW with decoupled decay), all on tfjs's WebGPU backend on the test device.
import { describe, test, expect, beforeAll, afterEach } from 'vitest';
import { testGpu, rng, compare } from '../helpers/gpu';
import { initTfjsWebgpu, settled, type TfjsWebgpu } from '../../src/bench/tfjs-webgpu';
import { TfLlama } from '../../src/bench/tfjs-llama';
import { forwardLogits, type Weights } from '../reference/llama-f64';
import { randomWeights, asRefWeights } from '../model/fixtures';
import type { TextConfig } from '../../src/model/config';
import type { WeightMap } from '../../src/model/model';
import type { Gpu } from '../../src/engine/gpu';

const OPTIM = { lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 1e-4, gradClip: 1 };

function textCfg(over: Partial<TextConfig> = {}): TextConfig {
  return {
    architecture: 'llama',
    vocabSize: 40,
    hiddenSize: 32,
    intermediateSize: 48,
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

/** Every optional feature on: 3 query heads per kv head, all biases, untied head. */
const qwenish = () =>
  textCfg({
    architecture: 'qwen2',
    hiddenSize: 24,
    numHeads: 6,
    numKvHeads: 2,
    headDim: 4,
    intermediateSize: 40,
    vocabSize: 37,
    tieWordEmbeddings: false,
    qkvBias: true,
    oBias: true,
    mlpBias: true,
    ropeTheta: 500,
    rmsNormEps: 1e-6,
  });

function tokens(B: number, T: number, V: number, seed: number): number[][] {
  const r = rng(seed);
  return Array.from({ length: B }, () => Array.from({ length: T }, () => r.int(V)));
}

/** Next-token targets inside each sequence, the last position and one more ignored. */
function targetsOf(ids: number[][]): Int32Array {
  const B = ids.length,
    T = ids[0].length;
  const t = new Int32Array(B * T).fill(-1);
  for (let b = 0; b < B; b++) for (let i = 0; i + 1 < T; i++) t[b * T + i] = ids[b][i + 1];
  t[1] = -1;
  return t;
}

/** Mean NLL over targets >= 0 from float64 reference logits. */
function refLoss(cfg: TextConfig, w: Weights, ids: number[][], targets: Int32Array): number {
  const V = cfg.vocabSize;
  const logits = forwardLogits({ text: cfg }, w, ids);
  let nll = 0,
    n = 0;
  for (let r = 0; r < targets.length; r++) {
    if (targets[r] < 0) continue;
    let max = -Infinity;
    for (let v = 0; v < V; v++) max = Math.max(max, logits[r * V + v]);
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(logits[r * V + v] - max);
    nll -= logits[r * V + targets[r]] - max - Math.log(sum);
    n++;
  }
  return nll / n;
}

const clone = (w: WeightMap): WeightMap => new Map([...w].map(([k, v]) => [k, { shape: [...v.shape], data: v.data.slice() }]));

let gpu: Gpu;
let h: TfjsWebgpu;
beforeAll(async () => {
  gpu = await testGpu();
  h = await initTfjsWebgpu(gpu);
});
// tfjs does not check its own GPU commands; a rejected pipeline silently leaves outputs stale, so
// every test also asserts that the shared device saw no error.
afterEach(async () => {
  await gpu.device.queue.onSubmittedWorkDone();
  gpu.check();
});

describe('tfjs-webgpu backend on the engine device', () => {
  test("runs on the engine's GPUDevice", async () => {
    expect(h.tf.getBackend()).toBe('webgpu');
    expect((h.backend as unknown as { device: GPUDevice }).device).toBe(gpu.device);
  });

  test('a GPU command tfjs gets wrong surfaces through the shared device', async () => {
    const tf = h.tf;
    // AddN binds every input to one shader: more inputs than the adapter's storage-buffer limit
    // make a pipeline the device rejects, which tfjs itself never notices.
    const n = gpu.limits.maxStorageBuffersPerShaderStage + 1;
    const xs = Array.from({ length: n }, (_, i) => tf.add(tf.fill([2000], i), 0));
    tf.addN(xs).dispose();
    tf.dispose(xs);
    h.flush();
    await expect(settled(gpu)).rejects.toThrow(/storage buffers/);
    await settled(gpu);
  });
});

describe('TfLlama forward', () => {
  for (const [name, cfg, B, T] of [
    ['llama GQA, tied', textCfg(), 2, 5],
    ['qwen2 biases, untied, rep 3', qwenish(), 3, 7],
  ] as const) {
    test(`logits match the float64 reference (${name}, B=${B}, T=${T})`, async () => {
      const w = randomWeights({ text: cfg }, 11);
      const ids = tokens(B, T, cfg.vocabSize, 5);
      const m = new TfLlama(h.tf, cfg, w, OPTIM);
      try {
        const lt = m.logits(ids.flat(), B, T);
        expect(lt.shape).toEqual([B * T, cfg.vocabSize]);
        const got = await lt.data();
        lt.dispose();
        const want = forwardLogits({ text: cfg }, asRefWeights(w), ids);
        const c = compare(got, want, 1e-4, 1e-4);
        expect(c.ok, c.msg).toBe(true);
      } finally {
        m.dispose();
      }
    });
  }

  test('causal: a later token never changes earlier logits', async () => {
    const cfg = textCfg();
    const m = new TfLlama(h.tf, cfg, randomWeights({ text: cfg }, 3), OPTIM);
    try {
      const a = tokens(1, 6, cfg.vocabSize, 9)[0];
      const b = [...a];
      b[5] = (b[5] + 1) % cfg.vocabSize;
      const la = m.logits(a, 1, 6),
        lb = m.logits(b, 1, 6);
      const [da, db] = [await la.data(), await lb.data()];
      h.tf.dispose([la, lb]);
      const V = cfg.vocabSize;
      expect(Array.from(da.slice(0, 5 * V))).toEqual(Array.from(db.slice(0, 5 * V)));
      expect(Array.from(da.slice(5 * V))).not.toEqual(Array.from(db.slice(5 * V)));
    } finally {
      m.dispose();
    }
  });
});

describe('TfLlama training', () => {
  test('loss is the reference mean NLL and gradients match float64 finite differences', async () => {
    const cfg = qwenish();
    const w = randomWeights({ text: cfg }, 21);
    const ids = tokens(2, 5, cfg.vocabSize, 4);
    const targets = targetsOf(ids);
    const ref = asRefWeights(w);
    const m = new TfLlama(h.tf, cfg, w, OPTIM);
    try {
      const lt = m.loss(ids.flat(), targets, 2, 5);
      const loss = (await lt.data())[0];
      lt.dispose();
      expect(Math.abs(loss - refLoss(cfg, ref, ids, targets))).toBeLessThan(1e-5);

      const grads = await m.grads(ids.flat(), targets, 2, 5);
      const r = rng(8);
      const names = [
        'model.embed_tokens.weight',
        'model.layers.0.self_attn.q_proj.weight',
        'model.layers.1.self_attn.k_proj.bias',
        'model.layers.0.self_attn.v_proj.weight',
        'model.layers.1.input_layernorm.weight',
        'model.layers.0.mlp.down_proj.weight',
        'model.layers.1.self_attn.o_proj.bias',
        'model.norm.weight',
        'lm_head.weight',
      ];
      for (const name of names) {
        const g = grads.get(name)!;
        // The embedding row of a token that occurs, and random entries elsewhere.
        const idx = name === 'model.embed_tokens.weight' ? ids[0][2] * cfg.hiddenSize + 3 : r.int(g.length);
        const base = ref.get(name)!;
        const orig = base[idx];
        base[idx] = orig + 1e-3;
        const up = base[idx];
        const lp = refLoss(cfg, ref, ids, targets);
        base[idx] = orig - 1e-3;
        const down = base[idx];
        const lm = refLoss(cfg, ref, ids, targets);
        base[idx] = orig;
        const fd = (lp - lm) / (up - down);
        expect(Math.abs(g[idx] - fd), `${name}[${idx}]: tfjs ${g[idx]} vs finite difference ${fd}`).toBeLessThan(2e-4 + 2e-3 * Math.abs(fd));
      }
    } finally {
      m.dispose();
    }
  });

  test('trainStep is clip + AdamW (decoupled decay on matrices only), two steps against float64', async () => {
    const cfg = qwenish();
    const w = randomWeights({ text: cfg }, 31);
    const ids = tokens(2, 6, cfg.vocabSize, 2);
    const targets = targetsOf(ids);
    const lr = 0.01;
    const optim = { lr, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradClip: 0 };
    const m = new TfLlama(h.tf, cfg, clone(w), optim);
    try {
      // Host copy of every parameter and moment, advanced in float64 from tfjs's own gradients.
      const p = new Map([...w].map(([k, v]) => [k, Float64Array.from(v.data)]));
      const mom = new Map([...w].map(([k, v]) => [k, new Float64Array(v.data.length)]));
      const vel = new Map([...w].map(([k, v]) => [k, new Float64Array(v.data.length)]));
      let tensorsAfterStep1 = 0;
      for (let step = 1; step <= 2; step++) {
        const g = await m.grads(ids.flat(), targets, 2, 6);
        let sq = 0;
        for (const a of g.values()) for (const x of a) sq += x * x;
        const norm = Math.sqrt(sq);
        // Step 1 clips (max norm below the gradient's norm), step 2 does not.
        m.optim.gradClip = step === 1 ? norm / 3 : norm * 10;
        const scale = Math.min(1, m.optim.gradClip / (norm + 1e-6));
        const bc1 = 1 - 0.9 ** step,
          bc2 = 1 - 0.95 ** step;
        for (const s of m.specs) {
          const pp = p.get(s.name)!,
            mm = mom.get(s.name)!,
            vv = vel.get(s.name)!,
            gg = g.get(s.name)!;
          const decay = s.decay ? 1 - lr * 0.1 : 1;
          for (let i = 0; i < pp.length; i++) {
            const gi = gg[i] * scale;
            mm[i] = 0.9 * mm[i] + 0.1 * gi;
            vv[i] = 0.95 * vv[i] + 0.05 * gi * gi;
            pp[i] = pp[i] * decay - ((lr / bc1) * mm[i]) / (Math.sqrt(vv[i] / bc2) + 1e-8);
          }
        }
        const loss = await m.trainStep(ids.flat(), targets, 2, 6, lr);
        expect(Number.isFinite(loss)).toBe(true);
        // The moments appear in step 1; after that a step must leave no tensor behind.
        if (step === 1) tensorsAfterStep1 = h.tf.memory().numTensors;
        else expect(h.tf.memory().numTensors).toBe(tensorsAfterStep1);
        const got = await m.exportWeights();
        for (const s of m.specs) {
          const c = compare(got.get(s.name)!, p.get(s.name)!, 2e-6, 1e-5);
          expect(c.ok, `step ${step} ${s.name}: ${c.msg}`).toBe(true);
        }
      }
      expect(m.step).toBe(2);
    } finally {
      m.dispose();
    }
  });
});
