// LoRA on the text decoder (src/model/lora.ts), checked through what it must equal:
//   - fresh adapters (B = 0) compute exactly what the base computes;
//   - the adapter gradients are the merged model's weight gradient seen through the adapters:
//     with W' = W + s·B·A, dL/dB = s·(dL/dW')·Aᵀ and dL/dA = s·Bᵀ·(dL/dW'). The engine's full
//     gradients are themselves checked against float64 finite differences (model.test.ts), so this
//     ties LoRA's backward to an independent derivation;
//   - and every adapter gradient against float64 central finite differences of the reference model;
//   - training moves only the adapters (the base stays bit for bit), lowers the loss, and the
//     merged weights give the adapted model's logits.
import { afterAll, describe, expect, it } from 'vitest';
import { testGpu, rng } from '../helpers/gpu';
import { Model, type WeightMap } from '../../src/model/model';
import { Trainer } from '../../src/model/trainer';
import { Activations } from '../../src/model/activations';
import { nextTokenTargets, uploadBatch, type TokenBatch } from '../../src/model/batch';
import { textForward } from '../../src/model/forward';
import { CommandStream } from '../../src/engine/stream';
import { download } from '../../src/engine/tensor';
import { InputError } from '../../src/engine/errors';
import { savedWeights } from '../../src/io/peft';
import { LORA_TARGETS, initLora, loraModule, loraShape, loraSpecs, mergeLora, type LoraSpec } from '../../src/model/lora';
import type { ModelConfig } from '../../src/model/config';
import { randomWeights, refLoss, tinyVlm, vlmBatch } from './fixtures';

const cfg = tinyVlm();
const base = randomWeights(cfg, 7);
const { ids, nImages, patches } = vlmBatch(cfg, 2, 11, 3);
const batch: TokenBatch = (() => {
  const flat = Uint32Array.from(ids.flat());
  const mask = new Uint8Array(flat.length).map((_, i) => (flat[i] === cfg.imageTokenId ? 0 : 1));
  return { B: 2, T: 11, ids: flat, targets: nextTokenTargets(flat, 2, 11, mask), nImages, patches };
})();
const spec: LoraSpec = { rank: 4, alpha: 8, targets: LORA_TARGETS };
const scale = spec.alpha / spec.rank;

/** Adapters with B non-zero too, so every term of the update is exercised. */
function busyAdapters(seed: number): WeightMap {
  const w = initLora(cfg, spec, seed);
  const r = rng(seed + 1);
  for (const [name, t] of w) if (name.endsWith('lora_B.weight')) for (let i = 0; i < t.data.length; i++) t.data[i] = 0.2 * r.uniform();
  return w;
}

async function logits(m: Model): Promise<Float32Array> {
  const acts = new Activations(m.gpu, m.cfg, { B: 2, T: 11, nImages, training: false }, m.lora);
  const s = new CommandStream(m.gpu, 'lora-test');
  try {
    uploadBatch(m, acts, batch);
    textForward(s, m, acts);
    await s.sync();
    return await download(m.gpu, acts.get('logits'));
  } finally {
    acts.release();
    s.destroy();
  }
}

const models: Model[] = [];
afterAll(() => {
  for (const m of models) m.release();
});
async function model(weights: WeightMap, adapters?: LoraSpec, lw?: number | WeightMap): Promise<Model> {
  const m = new Model(await testGpu(), cfg);
  models.push(m);
  m.loadWeights(weights);
  if (adapters) m.addLora(adapters, lw);
  return m;
}

describe('LoRA', () => {
  it('fresh adapters (B = 0) leave the model exactly as its base', async () => {
    const plain = await logits(await model(base));
    const adapted = await logits(await model(base, spec, 5));
    expect(adapted).toEqual(plain);
  });

  it('with its adapters off an adapted model computes its base exactly (the LoRA GRPO reference)', async () => {
    const plain = await logits(await model(base));
    const m = await model(base, spec, busyAdapters(17));
    const adapted = await logits(m);
    m.adaptersOff = true;
    const off = await logits(m);
    m.adaptersOff = false;
    expect(off).toEqual(plain);
    expect(adapted).not.toEqual(plain);
    expect(await logits(m)).toEqual(adapted);
  });

  it("the adapter gradients are the merged model's weight gradient seen through A and B", async () => {
    const adapters = busyAdapters(21);
    const lora = await model(base, spec, adapters);
    const loraTrainer = new Trainer(lora);
    const a = await loraTrainer.computeGrads([batch]);
    await loraTrainer.stream.sync();
    // Nothing of the base trains: no gradient or moment memory for it.
    expect(lora.gradOrNull('model.layers.0.self_attn.q_proj.weight')).toBeNull();
    expect(lora.gradOrNull('model.embed_tokens.weight')).toBeNull();
    expect(lora.grads!.has('model.layers.1.mlp.down_proj.lora_B.weight')).toBe(true);
    const adapterElems = loraSpecs(cfg, spec).reduce((n, t) => n + t.shape[0] * t.shape[1], 0);
    expect(lora.trainable.reduce((n, t) => n + t.shape[0] * t.shape[1], 0)).toBe(adapterElems);

    const merged = await model(mergeLora(cfg, spec, base, adapters));
    const fullTrainer = new Trainer(merged);
    const f = await fullTrainer.computeGrads([batch]);
    await fullTrainer.stream.sync();
    expect(Math.abs(a.loss - f.loss)).toBeLessThan(1e-5);

    const failures: string[] = [];
    for (let l = 0; l < cfg.text.numLayers; l++) {
      for (const target of LORA_TARGETS) {
        const mod = loraModule(l, target);
        const { out: O, in: I } = loraShape(cfg, target);
        const r = spec.rank;
        const G = await download(merged.gpu, merged.g(`${mod}.weight`));
        const A = adapters.get(`${mod}.lora_A.weight`)!.data;
        const B = adapters.get(`${mod}.lora_B.weight`)!.data;
        const dA = await download(lora.gpu, lora.g(`${mod}.lora_A.weight`));
        const dB = await download(lora.gpu, lora.g(`${mod}.lora_B.weight`));
        const wantB = new Float64Array(O * r);
        const wantA = new Float64Array(r * I);
        for (let o = 0; o < O; o++)
          for (let k = 0; k < r; k++) {
            let acc = 0;
            for (let i = 0; i < I; i++) acc += G[o * I + i] * A[k * I + i];
            wantB[o * r + k] = scale * acc;
          }
        for (let k = 0; k < r; k++)
          for (let i = 0; i < I; i++) {
            let acc = 0;
            for (let o = 0; o < O; o++) acc += B[o * r + k] * G[o * I + i];
            wantA[k * I + i] = scale * acc;
          }
        for (const [name, got, want] of [
          ['A', dA, wantA],
          ['B', dB, wantB],
        ] as const) {
          const big = Math.max(...Array.from(want, Math.abs));
          let worst = 0;
          for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
          if (!(big > 0) || worst > 1e-3 * big + 1e-7) failures.push(`${mod} d${name}: max error ${worst} (largest ${big})`);
        }
      }
    }
    expect(failures).toEqual([]);
    loraTrainer.release();
    fullTrainer.release();
  });

  it('every adapter gradient matches float64 central finite differences of the reference model', async () => {
    const adapters = busyAdapters(33);
    const m = await model(base, spec, adapters);
    const t = new Trainer(m);
    const { loss } = await t.computeGrads([batch]);
    await t.stream.sync();
    // The reference: W + s·B·A formed in float64 for every adapted weight, then the float64 model.
    const refW = (over?: { name: string; data: Float64Array }) => {
      const w = new Map<string, Float64Array | Float32Array>([...base].map(([k, v]) => [k, v.data]));
      for (let l = 0; l < cfg.text.numLayers; l++) {
        for (const target of LORA_TARGETS) {
          const mod = loraModule(l, target);
          const { out: O, in: I } = loraShape(cfg, target);
          const A = over?.name === `${mod}.lora_A.weight` ? over.data : adapters.get(`${mod}.lora_A.weight`)!.data;
          const B = over?.name === `${mod}.lora_B.weight` ? over.data : adapters.get(`${mod}.lora_B.weight`)!.data;
          const W = base.get(`${mod}.weight`)!.data;
          const out = new Float64Array(O * I);
          for (let o = 0; o < O; o++)
            for (let i = 0; i < I; i++) {
              let acc = 0;
              for (let k = 0; k < spec.rank; k++) acc += B[o * spec.rank + k] * A[k * I + i];
              out[o * I + i] = W[o * I + i] + scale * acc;
            }
          w.set(`${mod}.weight`, out);
        }
      }
      return w as unknown as Map<string, Float32Array>;
    };
    expect(Math.abs(loss - refLoss(cfg, refW(), batch, ids))).toBeLessThan(1e-4);
    const r = rng(5);
    const eps = 1e-4;
    const failures: string[] = [];
    for (const a of loraSpecs(cfg, spec)) {
      const g = await download(m.gpu, m.g(a.name));
      const x = adapters.get(a.name)!.data;
      const u = Float64Array.from(x, () => r.normal());
      const norm = Math.hypot(...u);
      const shifted = (sign: number) => refLoss(cfg, refW({ name: a.name, data: Float64Array.from(x, (v, i) => v + (sign * eps * u[i]) / norm) }), batch, ids);
      const fd = (shifted(1) - shifted(-1)) / (2 * eps);
      let an = 0;
      for (let i = 0; i < g.length; i++) an += (g[i] * u[i]) / norm;
      if (!(Math.abs(fd - an) <= 2e-5 + 2e-3 * Math.abs(fd))) failures.push(`${a.name}: analytic ${an}, finite difference ${fd}`);
    }
    expect(failures).toEqual([]);
    t.release();
  });

  it('training moves only the adapters, lowers the loss, and the merged weights compute what the adapted model does', async () => {
    const m = await model(base, spec, 9);
    const t = new Trainer(m, { lr: 1e-2, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, gradClip: 1 });
    const losses: number[] = [];
    for (let i = 0; i < 12; i++) losses.push((await t.trainStep([batch])).loss);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] * 0.8);
    const after = await m.exportWeights();
    for (const [name, w] of base) expect(after.get(name)!.data, name).toEqual(w.data);
    const adapters = await m.exportLora();
    expect(Array.from(adapters.get('model.layers.0.self_attn.q_proj.lora_B.weight')!.data).some((x) => x !== 0)).toBe(true);

    const want = await logits(m);
    const got = await logits(await model((await savedWeights(m, 'base')).weights));
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
    expect(worst).toBeLessThan(1e-4);
    t.release();
  });

  it('refuses adapters that cannot be built, naming what is wrong', async () => {
    const gpu = await testGpu();
    const m = new Model(gpu, cfg);
    models.push(m);
    expect(() => m.addLora({ ...spec, rank: 0 })).toThrow(InputError);
    expect(() => m.addLora({ ...spec, rank: 17 })).toThrow(/larger than the smallest adapted matrix side \(16\)/);
    expect(() => m.addLora({ ...spec, alpha: 0 })).toThrow(/alpha/);
    expect(() => m.addLora({ ...spec, targets: ['q_proj', 'qkv' as never] })).toThrow(/unknown target "qkv"/);
    expect(() => m.addLora(spec, new Map())).toThrow(/adapter model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight/);
    // A refused call leaves no adapters behind, and a good one then works.
    expect(m.lora).toBeNull();
    m.addLora({ ...spec, targets: ['q_proj', 'v_proj'] });
    expect(loraSpecs(cfg as ModelConfig, m.lora!).map((t) => t.name)).toHaveLength(2 * 2 * cfg.text.numLayers);
  });
});
