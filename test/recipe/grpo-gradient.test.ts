// The GRPO loss gradient of the whole model against finite differences: the engine's gradient
// (policy forward, reference forward, the policy-loss kernel, backward) is compared with central
// differences of the loss computed on the CPU, in float64, from logits.
import { describe, it, expect, afterAll } from 'vitest';
import { testGpu, rng, compare } from '../helpers/gpu';
import { Model } from '../../src/model/model';
import { Activations } from '../../src/model/activations';
import { uploadBatch } from '../../src/model/batch';
import { textForward } from '../../src/model/forward';
import { CommandStream } from '../../src/engine/stream';
import { download } from '../../src/engine/tensor';
import { trainByteLevelBpe, LAB_SPECIAL_TOKENS } from '../../src/io/bpe-trainer';
import { tokenizerFromJson } from '../../src/io/tokenizer';
import { collate } from '../../src/recipe/batching';
import { GrpoTrainer, type GrpoOptions, type PolicySequence } from '../../src/recipe/grpo';
import type { ModelConfig } from '../../src/model/config';
import type { WeightMap } from '../../src/model/model';
import * as ref from '../reference/llama-f64';
import { tinyVlm, randomWeights, asRefWeights } from '../model/fixtures';
import { policyLossRef, type RefLossOptions } from '../kernels/grpo.ref';
import { grpoTestOptions } from './grpo-options';
import { patchDim, patchesPerImage } from '../../src/model/config';

const bpe = trainByteLevelBpe('the left sign points right; answer A or B.\n'.repeat(4), {
  vocabSize: 272,
  specialTokens: [...LAB_SPECIAL_TOKENS],
  eosToken: '<|im_end|>',
});
const tok = tokenizerFromJson(bpe.tokenizerJson, bpe.tokenizerConfig, 'test tokenizer');
const V = tok.vocabSize;
const IMG = tok.tokenToId('<image>')!;
const base = tinyVlm({ vocabSize: V });
const cfg: ModelConfig = { ...base, imageTokenId: IMG };
const P = patchesPerImage(cfg.vision!);
const PAD = tok.eosIds[0];

/** n random token ids other than the image placeholder. */
function randomIds(r: ReturnType<typeof rng>, n: number): number[] {
  return Array.from({ length: n }, () => {
    let id: number;
    do id = r.int(V);
    while (id === IMG);
    return id;
  });
}

/** log-softmax of row `row` of [*, V] logits at `target`, in float64. */
function logSoftmaxAt(logits: ArrayLike<number>, row: number, target: number): number {
  let mx = -Infinity;
  for (let v = 0; v < V; v++) mx = Math.max(mx, logits[row * V + v]);
  let z = 0;
  for (let v = 0; v < V; v++) z += Math.exp(logits[row * V + v] - mx);
  return logits[row * V + target] - mx - Math.log(z);
}

/**
 * Three prompt+response sequences (one with an image) and, per response token, the offset
 * d = logp - oldLogp to give it: inside the clip range, clipped above and below, beyond the dual
 * clip, each at least 0.05 away from a kink, so a finite-difference step never crosses one.
 */
function makeSequences() {
  const r = rng(3);
  const rand = (n: number) => randomIds(r, n);
  const seqs = [
    { prompt: rand(6), response: rand(7), adv: 1.2, image: false },
    { prompt: [...rand(2), ...new Array(P).fill(IMG), ...rand(3)], response: rand(5), adv: -0.8, image: true },
    { prompt: rand(4), response: rand(9), adv: -1.6, image: false },
  ];
  const offsets = [0.05, 0.5, -0.5, 1.5, -1.5, 0, -0.1, 2.2, 0.3];
  const patches = Float32Array.from({ length: P * patchDim(cfg.vision!) }, () => r.uniform());
  return { seqs, offsets, patches };
}

describe('GRPO loss gradient vs finite differences', () => {
  const gpu = testGpu();
  const policyW = randomWeights(cfg, 7);
  // The reference: the policy moved a little, so the KL and its gradient are far from zero.
  const refW: WeightMap = new Map(
    [...policyW].map(([k, v]) => {
      const rr = rng(k.length * 31 + 5);
      return [k, { shape: v.shape, data: Float32Array.from(v.data, (x) => x + 0.08 * rr.uniform()) }];
    }),
  );
  const models: Model[] = [];
  afterAll(() => {
    for (const m of models) m.release();
  });

  async function check(aggregation: 'token-mean' | 'seq-mean-token-mean', microBatch: number) {
    const g = await gpu;
    const policy = new Model(g, cfg);
    policy.loadWeights(policyW);
    const refModel = new Model(g, cfg);
    refModel.loadWeights(refW);
    models.push(policy, refModel);
    const { seqs, offsets, patches } = makeSequences();
    const T = Math.max(...seqs.map((s) => s.prompt.length + s.response.length));
    const ids = seqs.map((s) => [...s.prompt, ...s.response, ...new Array(T - s.prompt.length - s.response.length).fill(PAD)]);
    const imageFeatures = (w: ref.Weights) => ref.visionForward(cfg, w, patches);
    const f64Logits = (w: ref.Weights) => ref.forwardLogits(cfg, w, ids, { imageFeatures: imageFeatures(w) });

    // Old log-probs: the policy's own (float64) shifted by the chosen offsets.
    const base = f64Logits(asRefWeights(policyW));
    const old = seqs.map((s, b) =>
      s.response.map((tgt, j) => logSoftmaxAt(base, b * T + s.prompt.length - 1 + j, tgt) - offsets[(b * 3 + j) % offsets.length]),
    );
    const refLogits = f64Logits(asRefWeights(refW));
    const lossOpts: RefLossOptions = { clipLow: 0.2, clipHigh: 0.28, clipC: 3, klCoef: 0.5, hasRef: true };

    /** The aggregated GRPO loss of policy logits [3*T, V], in float64. */
    const cpuLoss = (logits: ArrayLike<number>) => {
      const N = seqs.length * T;
      const x = { logp: new Float64Array(N), old: new Float64Array(N), ref: new Float64Array(N), adv: new Float64Array(N), mask: new Uint8Array(N) };
      seqs.forEach((s, b) =>
        s.response.forEach((tgt, j) => {
          const n = b * T + s.prompt.length - 1 + j;
          x.logp[n] = logSoftmaxAt(logits, n, tgt);
          x.ref[n] = logSoftmaxAt(refLogits, n, tgt);
          x.old[n] = old[b][j];
          x.adv[n] = s.adv;
          x.mask[n] = 1;
        }),
      );
      return policyLossRef(x, seqs.length, T, aggregation, lossOpts).total;
    };

    const opts: GrpoOptions = {
      groupSize: 3,
      promptsPerStep: 1,
      updatesPerStep: 1,
      microBatch,
      rolloutBatch: 3,
      maxNewTokens: 8,
      temperature: 1,
      topP: 1,
      loss: { clipLow: lossOpts.clipLow, clipHigh: lossOpts.clipHigh, clipC: lossOpts.clipC, klCoef: lossOpts.klCoef, aggregation },
      advantage: {},
      optim: { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, gradClip: 1 },
      seed: 0,
      padMultiple: 8,
    };
    const grpo = new GrpoTrainer(policy, refModel, tok, opts);
    const mini: PolicySequence[] = seqs.map((s, b) => {
      const all = [...s.prompt, ...s.response];
      const lossMask = new Uint8Array(all.length).fill(1, s.prompt.length);
      return {
        ex: { ids: all, lossMask, patches: s.image ? patches : new Float32Array(0), nImages: s.image ? 1 : 0 },
        promptLen: s.prompt.length,
        old: old[b],
        adv: s.adv,
      };
    });
    const res = await grpo.gradients(mini);
    await grpo.trainer.stream.sync();

    // Every branch of the loss is visited, and the engine's loss is the CPU loss.
    const flags = new Set(res.seqs.flatMap((s) => s.clip));
    expect(flags).toEqual(new Set([0, 1, 2]));
    const want = cpuLoss(base);
    expect(Math.abs(res.loss - want)).toBeLessThan(1e-5 * (1 + Math.abs(want)));

    // Per parameter tensor: directional derivative along a random unit direction, float64 weights.
    const r = rng(17);
    const eps = 1e-4;
    const failures: string[] = [];
    const grads = new Map<string, Float32Array>();
    for (const spec of policy.specs) {
      const gvec = await download(g, policy.g(spec.name));
      grads.set(spec.name, gvec);
      const w0 = asRefWeights(policyW);
      const b0 = w0.get(spec.name)!;
      const u = Float64Array.from(b0, () => r.normal());
      const nrm = Math.hypot(...u);
      u.forEach((x, i) => {
        u[i] = x / nrm;
      });
      const shifted = (sign: number) => {
        const w2 = new Map(w0);
        w2.set(spec.name, Float64Array.from(b0, (x, i) => x + sign * eps * u[i]) as unknown as Float32Array);
        return cpuLoss(f64Logits(w2));
      };
      const fd = (shifted(1) - shifted(-1)) / (2 * eps);
      let an = 0;
      for (let i = 0; i < gvec.length; i++) an += gvec[i] * u[i];
      if (!(Math.abs(fd - an) <= 3e-6 + 3e-3 * Math.abs(fd))) failures.push(`${spec.name}: analytic ${an}, finite difference ${fd}`);
    }
    expect(failures).toEqual([]);
    // Some derivative must be far from zero, or the comparison above proves nothing.
    const norms = [...grads.values()].map((x) => Math.hypot(...x));
    expect(Math.max(...norms)).toBeGreaterThan(1e-2);

    // The same through the engine's own float32 logits, along one direction over all parameters.
    const dir = new Map(policy.specs.map((s) => [s.name, Float32Array.from(policyW.get(s.name)!.data, () => r.normal())]));
    const dn = Math.hypot(...[...dir.values()].flatMap((x) => Array.from(x)));
    const h = 3e-3;
    const engineLogits = async (sign: number) => {
      const w2: WeightMap = new Map(
        [...policyW].map(([k, v]) => [k, { shape: v.shape, data: Float32Array.from(v.data, (x, i) => x + (sign * h * dir.get(k)![i]) / dn) }]),
      );
      policy.loadWeights(w2);
      const b = collate(
        mini.map((q) => q.ex),
        { maxLength: 64, overflow: 'drop', pad: 'longest', padMultiple: 1, padId: PAD },
      );
      const acts = new Activations(g, cfg, { B: b.B, T: b.T, nImages: b.nImages ?? 0, training: false });
      const s = new CommandStream(g, 'fd');
      uploadBatch(policy, acts, b);
      textForward(s, policy, acts);
      await s.sync();
      const l = await download(g, acts.get('logits'));
      acts.release();
      s.destroy();
      return l;
    };
    const fdEngine = (cpuLoss(await engineLogits(1)) - cpuLoss(await engineLogits(-1))) / (2 * h);
    policy.loadWeights(policyW);
    let anAll = 0;
    for (const spec of policy.specs) {
      const gv = grads.get(spec.name)!,
        d = dir.get(spec.name)!;
      for (let i = 0; i < gv.length; i++) anAll += (gv[i] * d[i]) / dn;
    }
    expect(Math.abs(fdEngine - anAll), `engine-logit FD ${fdEngine} vs analytic ${anAll}`).toBeLessThan(2e-3 + 1e-2 * Math.abs(fdEngine));
    grpo.release();
  }

  it('token-mean over two micro-batches, clip 0.2/0.28, dual clip, KL 0.5, an image prompt', async () => {
    await check('token-mean', 2);
  });

  it('seq-mean-token-mean in one micro-batch', async () => {
    await check('seq-mean-token-mean', 3);
  });
});

describe('GRPO with shared-prompt rows', () => {
  it("gives a row per response's loss, per-token stats and every gradient, groups split across micro-batches, with an image prompt", async () => {
    const g = await testGpu();
    const r = rng(29);
    const rand = (n: number) => randomIds(r, n);
    const patches = Float32Array.from({ length: P * patchDim(cfg.vision!) }, () => r.uniform());
    // Two questions sampled three times each (one with an image), responses of different lengths.
    const prompts = [
      { ids: [...rand(3), ...new Array(P).fill(IMG), ...rand(4)], image: true },
      { ids: rand(9), image: false },
    ];
    const mini: PolicySequence[] = [];
    prompts.forEach((p, k) => {
      for (const len of [5, 9, 2]) {
        const response = rand(len);
        const ids = [...p.ids, ...response];
        mini.push({
          ex: { ids, lossMask: new Uint8Array(ids.length).fill(1, p.ids.length), patches: p.image ? patches : new Float32Array(0), nImages: p.image ? 1 : 0 },
          promptLen: p.ids.length,
          old: Array.from({ length: len }, () => -2 + r.uniform()),
          adv: k === 0 ? 0.9 - 0.4 * len : -0.5 + 0.1 * len,
        });
      }
    });
    const policyW = randomWeights(cfg, 11);
    const refW = randomWeights(cfg, 12);
    const run = async (sharePrompts: boolean, aggregation: 'token-mean' | 'seq-mean-token-mean') => {
      const policy = new Model(g, cfg);
      policy.loadWeights(policyW);
      const refModel = new Model(g, cfg);
      refModel.loadWeights(refW);
      const grpo = new GrpoTrainer(
        policy,
        refModel,
        tok,
        grpoTestOptions({
          groupSize: 3,
          updatesPerStep: 1,
          microBatch: 4, // the second question's samples straddle two micro-batches
          rolloutBatch: 6,
          maxNewTokens: 9,
          loss: { clipHigh: 0.28, klCoef: 0.3, aggregation },
          sharePrompts,
        }),
      );
      try {
        const res = await grpo.gradients(mini);
        await grpo.trainer.stream.sync();
        // Two micro-batches: [question 1 x 3, question 2 x 1] and [question 2 x 2], three shared rows.
        expect(grpo.sharedRows).toBe(sharePrompts ? 3 : 0);
        const grads = new Map<string, Float32Array>();
        for (const spec of policy.specs) grads.set(spec.name, await download(g, policy.g(spec.name)));
        return { ...res, grads };
      } finally {
        grpo.release();
        policy.release();
        refModel.release();
      }
    };
    for (const aggregation of ['token-mean', 'seq-mean-token-mean'] as const) {
      const rows = await run(false, aggregation);
      const shared = await run(true, aggregation);
      expect(Math.abs(shared.loss - rows.loss), aggregation).toBeLessThan(1e-5 * (1 + Math.abs(rows.loss)));
      expect(Math.abs(shared.pgLoss - rows.pgLoss)).toBeLessThan(1e-5 * (1 + Math.abs(rows.pgLoss)));
      expect(shared.seqs.map((s) => s.clip)).toEqual(rows.seqs.map((s) => s.clip));
      const flat = (k: 'ratios' | 'kl' | 'entropy', x: typeof rows) => x.seqs.flatMap((s) => s[k]);
      for (const k of ['ratios', 'kl', 'entropy'] as const) {
        const c = compare(flat(k, shared), flat(k, rows), 1e-5, 1e-4);
        expect(c.ok, `${k} (${aggregation}): ${c.msg}`).toBe(true);
      }
      for (const [name, want] of rows.grads) {
        const c = compare(shared.grads.get(name)!, want, 1e-6, 2e-4);
        expect(c.ok, `gradient of ${name} (${aggregation}): ${c.msg}`).toBe(true);
      }
      // The gradient is not trivially zero (the comparison above would prove nothing).
      expect(Math.max(...[...rows.grads.values()].map((x) => Math.hypot(...x)))).toBeGreaterThan(1e-2);
    }
  });

  it('falls back to a row per response where packing would hold more positions (short prompt, long answers, a split group)', async () => {
    const g = await testGpu();
    const policy = new Model(g, cfg);
    policy.loadWeights(randomWeights(cfg, 13));
    const grpo = new GrpoTrainer(
      policy,
      null,
      tok,
      grpoTestOptions({ groupSize: 3, updatesPerStep: 1, microBatch: 4, rolloutBatch: 6, maxNewTokens: 20, loss: { klCoef: 0 } }),
    );
    try {
      // [A x 3, B x 1]: packed rows 2 + 3 x 21 = 65 -> 2 x 72 positions; a row per response 4 x 24.
      const seq = (prompt: number[]): PolicySequence => {
        const ids = [...prompt, ...Array.from({ length: 20 }, (_, j) => 20 + j)];
        return {
          ex: { ids, lossMask: new Uint8Array(ids.length).fill(1, 3), patches: new Float32Array(0), nImages: 0 },
          promptLen: 3,
          old: new Array(20).fill(-3),
          adv: 1,
        };
      };
      const res = await grpo.gradients([seq([1, 2, 3]), seq([1, 2, 3]), seq([1, 2, 3]), seq([4, 5, 6])]);
      expect(grpo.sharedRows).toBe(0);
      expect(res.seqs.map((x) => x.kl.length)).toEqual([20, 20, 20, 20]);
    } finally {
      grpo.release();
      policy.release();
    }
  });
});
