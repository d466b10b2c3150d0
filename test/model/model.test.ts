// Whole-model checks of the WGSL engine against the float64 reference (test/reference/llama-f64.ts):
// logits, every parameter gradient against central finite differences, and decoding.
import { describe, it, expect, afterAll } from 'vitest';
import { testGpu, rng, compare, KERNEL_PATHS, useKernelPath } from '../helpers/gpu';
import { adamwRef, clipRef } from '../kernels/optimizer.ref';
import { Model } from '../../src/model/model';
import { Trainer, updateRuns } from '../../src/model/trainer';
import { Activations } from '../../src/model/activations';
import { uploadBatch, nextTokenTargets, type TokenBatch } from '../../src/model/batch';
import { textForward } from '../../src/model/forward';
import { CommandStream } from '../../src/engine/stream';
import { download } from '../../src/engine/tensor';
import { generate, generateNoCache } from '../../src/model/generate';
import * as ref from '../reference/llama-f64';
import { onnxLogits } from '../reference/onnx-llama';
import { tinyVlm, randomWeights, asRefWeights, vlmBatch, refLoss } from './fixtures';
import type { ModelConfig } from '../../src/model/config';

function toBatch(cfg: ModelConfig, ids: number[][], nImages: number, patches: Float32Array): TokenBatch {
  const B = ids.length,
    T = ids[0].length;
  const flat = Uint32Array.from(ids.flat());
  const mask = new Uint8Array(B * T).map((_, i) => (flat[i] === cfg.imageTokenId ? 0 : 1));
  return { B, T, ids: flat, targets: nextTokenTargets(flat, B, T, mask), nImages, patches };
}

describe('whole model vs float64 reference', () => {
  const cfg = tinyVlm();
  const weights = randomWeights(cfg, 7);
  const refW = asRefWeights(weights);
  const { ids, nImages, patches } = vlmBatch(cfg, 2, 11, 3);
  const batch = toBatch(cfg, ids, nImages, patches);
  let model: Model;

  afterAll(() => model?.release());

  it('logits of a text+image batch match to 1e-4', async () => {
    const gpu = await testGpu();
    model = new Model(gpu, cfg);
    model.loadWeights(weights);
    const acts = new Activations(gpu, cfg, { B: 2, T: 11, nImages, training: false });
    const s = new CommandStream(gpu, 'test');
    uploadBatch(model, acts, batch);
    textForward(s, model, acts);
    await s.sync();
    const got = await download(gpu, acts.get('logits'));
    const want = ref.forwardLogits(cfg, refW, ids, { imageFeatures: ref.visionForward(cfg, refW, patches) });
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1e-4 + Math.abs(want[i])));
    expect(worst).toBeLessThan(1e-3);
    let maxAbs = 0;
    for (let i = 0; i < want.length; i++) maxAbs = Math.max(maxAbs, Math.abs(got[i] - want[i]));
    expect(maxAbs).toBeLessThan(1e-4);
    acts.release();
    s.destroy();
  });

  it('every parameter gradient matches float64 central finite differences', async () => {
    const gpu = await testGpu();
    model ??= new Model(gpu, cfg);
    model.loadWeights(weights);
    const trainer = new Trainer(model);
    const { loss } = await trainer.computeGrads([batch]);
    await trainer.stream.sync();
    expect(Math.abs(loss - refLoss(cfg, refW, batch, ids))).toBeLessThan(1e-4);
    const r = rng(11);
    const eps = 1e-4;
    const failures: string[] = [];
    for (const spec of model.specs) {
      const g = await download(gpu, model.g(spec.name));
      const base = refW.get(spec.name)!;
      // Directional derivative along a random unit direction covers every element of the tensor.
      const u = new Float32Array(base.length).map(() => r.normal());
      const norm = Math.hypot(...u);
      u.forEach((x, i) => {
        u[i] = x / norm;
      });
      const shifted = (sign: number) => {
        const w2 = new Map(refW);
        // Float64 perturbed weights: rounding them to f32 would swamp a 1e-4 step with noise.
        w2.set(spec.name, Float64Array.from(base, (x, i) => x + sign * eps * u[i]) as unknown as Float32Array);
        return refLoss(cfg, w2, batch, ids);
      };
      const fd = (shifted(1) - shifted(-1)) / (2 * eps);
      let an = 0;
      for (let i = 0; i < g.length; i++) an += g[i] * u[i];
      if (!(Math.abs(fd - an) <= 2e-5 + 2e-3 * Math.abs(fd))) failures.push(`${spec.name}: analytic ${an}, finite difference ${fd}`);
    }
    expect(failures).toEqual([]);
    // The norm the clip uses, summed per gradient slab on the GPU: the root of every trainable
    // gradient's sum of squares.
    let ss = 0;
    const before = new Map<string, { p: Float32Array; g: Float32Array }>();
    for (const spec of model.trainable) {
      const g = await download(gpu, model.g(spec.name));
      before.set(spec.name, { p: await download(gpu, model.p(spec.name)), g });
      for (const x of g) ss += x * x;
    }
    trainer.step = 1; // as trainStep counts before it updates
    trainer.optim = { ...trainer.optim, weightDecay: 0.5 }; // large enough that a decay on the wrong tensor shows
    trainer.applyUpdate(1e-3);
    await trainer.stream.sync();
    const [norm] = await download(gpu, trainer.gradNorm.state);
    expect(Math.abs(norm - Math.sqrt(ss)) / Math.sqrt(ss)).toBeLessThan(1e-5);
    // AdamW runs over stretches of tensors, one dispatch each: every trainable tensor in exactly
    // one run, in order, each run one weight-decay setting, fewer dispatches than tensors.
    const runs = updateRuns(model);
    expect(runs.flatMap((r) => r.names)).toEqual(model.trainable.map((t) => t.name));
    for (const r of runs) for (const n of r.names) expect(model.trainable.find((t) => t.name === n)!.decay).toBe(r.decay);
    expect(runs.length).toBeLessThan(model.trainable.length);
    // ... and each tensor updated as torch's AdamW updates it alone, decay where its spec says.
    const o = trainer.optim;
    const scale = clipRef(
      [...before.values()].map((b) => b.g),
      o.gradClip,
    ).scale;
    for (const spec of model.trainable) {
      const b = before.get(spec.name)!;
      const P = Float64Array.from(b.p);
      const h = { lr: 1e-3, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: spec.decay ? o.weightDecay : 0, step: 1 };
      adamwRef(P, b.g, new Float64Array(P.length), new Float64Array(P.length), h, scale);
      const c = compare(await download(gpu, model.p(spec.name)), P, 1e-6, 1e-5);
      expect(c.ok, `${spec.name}: ${c.msg}`).toBe(true);
    }
    trainer.release();
  });
});

describe('engine vs onnxruntime', () => {
  it('text logits agree with the ONNX graph run by onnxruntime-web to 1e-4 relative', async () => {
    const cfg: ModelConfig = { text: { ...tinyVlm().text, numKvHeads: 1, tieWordEmbeddings: true } };
    const weights = randomWeights(cfg, 31, 0.4);
    const ids = [
      [3, 9, 27, 1, 5, 30, 2, 8],
      [11, 0, 4, 4, 39, 17, 6, 25],
    ];
    const want = await onnxLogits(cfg, asRefWeights(weights), ids);
    const gpu = await testGpu();
    const model = new Model(gpu, cfg);
    model.loadWeights(weights);
    const acts = new Activations(gpu, cfg, { B: 2, T: 8, nImages: 0, training: false });
    const s = new CommandStream(gpu, 'test');
    uploadBatch(model, acts, { B: 2, T: 8, ids: Uint32Array.from(ids.flat()) });
    textForward(s, model, acts);
    await s.sync();
    const got = await download(gpu, acts.get('logits'));
    // Relative to the logits' scale (elementwise relative error is meaningless at zero crossings).
    let scale = 0,
      worst = 0;
    for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / scale);
    expect(scale).toBeGreaterThan(1);
    expect(worst).toBeLessThan(1e-4);
    acts.release();
    s.destroy();
    model.release();
  });
});

/** The decoding tests' model: a two-layer text decoder with large weights, and prompts of three lengths. */
const decodeCfg: ModelConfig = { text: { ...tinyVlm().text, vocabSize: 50, numLayers: 2 } };
const decodeWeights = randomWeights(decodeCfg, 21, 0.5);
const decodePrompts = [
  [1, 2, 3, 4, 5],
  [7, 8],
  [9, 10, 11, 12, 13, 14, 15],
];

describe('decoding', () => {
  const cfg = decodeCfg,
    weights = decodeWeights,
    prompts = decodePrompts;
  it('greedy decode with the KV cache equals float64 full recompute, and batched equals alone', async () => {
    const gpu = await testGpu();
    const model = new Model(gpu, cfg);
    model.loadWeights(weights);
    const n = 10;
    const batched = await generate(model, prompts, { maxNewTokens: n, greedy: true, syncEvery: 3 });
    for (let b = 0; b < prompts.length; b++) {
      const want = ref.greedyDecode(cfg, asRefWeights(weights), prompts[b], n);
      expect(batched.ids[b]).toEqual(want);
      const alone = await generate(model, [prompts[b]], { maxNewTokens: n, greedy: true });
      expect(alone.ids[0]).toEqual(want);
    }
    expect((await generateNoCache(model, [prompts[0]], 4))[0]).toEqual(batched.ids[0].slice(0, 4));
    // Without the cache, two prompts of one length decoded together: each as the reference decodes it alone.
    const pair = [prompts[0], [9, 10, 11, 12, 13]];
    const plain = await generateNoCache(model, pair, 4);
    for (let b = 0; b < 2; b++) expect(plain[b]).toEqual(ref.greedyDecode(cfg, asRefWeights(weights), pair[b], 4));
    model.release();
  });

  it('an f16 KV cache: the float64 reference tokens, log-probs within f16 rounding, half the cache memory; Gpu.kvF16 is the default', async () => {
    const gpu = await testGpu();
    const model = new Model(gpu, cfg);
    model.loadWeights(weights);
    const n = 10;
    const run = async (kvCache?: 'f32' | 'f16') => {
      let held = 0;
      const before = gpu.liveBytes;
      const r = await generate(model, prompts, {
        maxNewTokens: n,
        greedy: true,
        syncEvery: 3,
        kvCache,
        onTokens: () => (held = Math.max(held, gpu.liveBytes - before)),
      });
      return { ...r, held };
    };
    const f32 = await run('f32');
    const f16 = await run('f16');
    for (let b = 0; b < prompts.length; b++) expect(f16.ids[b]).toEqual(ref.greedyDecode(cfg, asRefWeights(weights), prompts[b], n));
    const dlp = f16.logps.flat().map((x, i) => Math.abs(x - f32.logps.flat()[i]));
    // f16 keeps 11 significant bits (relative error <= 2^-11 per key and value); this random
    // model's attention logits are large (weights of std 0.5), so a log-prob moves by up to ~0.02.
    expect(Math.max(...dlp)).toBeLessThan(0.05);
    expect(Math.max(...dlp)).toBeGreaterThan(0); // the halves were read, not the f32 values
    // The cache: layers x (k, v) x B x capacity x kv width, 4 bytes each in f32 (capacity 7 + 10 =
    // 17, even in f16: 18), each tensor's slab rounded to 256 bytes.
    const t = cfg.text;
    const words = (cap: number, perWord: number) => Math.ceil((prompts.length * cap * t.numKvHeads * t.headDim) / perWord / 64) * 64 * 4;
    expect(f32.held - f16.held).toBe(2 * t.numLayers * (words(17, 1) - words(18, 2)));
    const was = gpu.kvF16;
    try {
      gpu.kvF16 = true;
      const byDefault = await run();
      expect(byDefault.held).toBe(f16.held);
      expect(byDefault.logps).toEqual(f16.logps);
    } finally {
      gpu.kvF16 = was;
    }
    await expect(generate(model, prompts, { maxNewTokens: 2, kvCache: 'f8' as 'f16' })).rejects.toThrow(/kvCache must be "f32" or "f16"/);
    model.release();
  });

  it('stops each sequence at EOS and reports log-probs of the chosen tokens', async () => {
    const gpu = await testGpu();
    const model = new Model(gpu, cfg);
    model.loadWeights(weights);
    const full = await generate(model, [[1, 2, 3]], { maxNewTokens: 8, greedy: true });
    const eos = full.ids[0][3];
    const cut = await generate(model, [[1, 2, 3]], { maxNewTokens: 8, greedy: true, eosIds: [eos] });
    const first = full.ids[0].indexOf(eos);
    expect(cut.ids[0]).toEqual(full.ids[0].slice(0, first + 1));
    expect(cut.finished[0]).toBe(true);
    // log p of the greedy token under the reference distribution
    const V = cfg.text.vocabSize;
    const logits = ref.forwardLogits(cfg, asRefWeights(weights), [[1, 2, 3]]);
    let mx = -Infinity,
      z = 0;
    for (let v = 0; v < V; v++) mx = Math.max(mx, logits[2 * V + v]);
    for (let v = 0; v < V; v++) z += Math.exp(logits[2 * V + v] - mx);
    expect(full.logps[0][0]).toBeCloseTo(logits[2 * V + full.ids[0][0]] - mx - Math.log(z), 4);
    model.release();
  });
});

describe.each(KERNEL_PATHS)("a shared prefill: GRPO's samples of one prompt ($path)", ({ rowKernels }) => {
  useKernelPath(rowKernels);
  const cfg = decodeCfg,
    weights = decodeWeights,
    prompts = decodePrompts;
  it('samplesPerPrompt: one prefill per prompt gives the tokens and log-probs of the prompt repeated, with a smaller prefill', async () => {
    const gpu = await testGpu();
    const model = new Model(gpu, cfg);
    model.loadWeights(weights);
    const G = 3,
      n = 9;
    const repeated = prompts.flatMap((p) => Array.from({ length: G }, () => p));
    try {
      for (const kvCache of ['f32', 'f16'] as const) {
        const run = async (ps: number[][], samplesPerPrompt?: number, greedy = false) => {
          let held = 0;
          const before = gpu.liveBytes;
          const r = await generate(model, ps, {
            maxNewTokens: n,
            greedy,
            temperature: 1.5,
            seed: 11,
            syncEvery: 4,
            kvCache,
            samplesPerPrompt,
            onTokens: () => (held = Math.max(held, gpu.liveBytes - before)),
          });
          return { ...r, held };
        };
        const shared = await run(prompts, G);
        const alone = await run(repeated);
        expect(shared.ids).toHaveLength(prompts.length * G);
        // The sampler draws from (seed, step, row): the same rows get the same draws, so the two
        // agree token for token when the shared prefill's keys and values are the repeated one's.
        expect(shared.ids).toEqual(alone.ids);
        expect(shared.finished).toEqual(alone.finished);
        const lp = compare(shared.logps.flat(), alone.logps.flat(), 1e-5, 1e-5);
        expect(lp.ok, `log-probs (${kvCache} cache): ${lp.msg}`).toBe(true);
        // A real draw: the copies of a prompt differ.
        for (let u = 0; u < prompts.length; u++) expect(new Set(shared.ids.slice(u * G, u * G + G).map((x) => x.join())).size).toBeGreaterThan(1);
        // The prefill holds 3 prompts' activations instead of 9 sequences'.
        expect(shared.held).toBeLessThan(alone.held);
        // Greedy: every copy is the float64 reference's decode of its prompt.
        const greedy = await run(prompts, G, true);
        greedy.ids.forEach((ids, j) => expect(ids).toEqual(ref.greedyDecode(cfg, asRefWeights(weights), prompts[Math.floor(j / G)], n)));
      }
      await expect(generate(model, prompts, { maxNewTokens: 2, samplesPerPrompt: 0 })).rejects.toThrow(/samplesPerPrompt must be a whole number >= 1/);
      const none = await generate(model, prompts, { maxNewTokens: 0, samplesPerPrompt: 2 });
      expect(none.ids).toEqual(Array.from({ length: 6 }, () => []));
    } finally {
      model.release();
    }
  });

  it('samplesPerPrompt with images: each image is encoded once and every copy sees it', async () => {
    const vcfg = tinyVlm();
    const vw = randomWeights(vcfg, 23, 0.5);
    const gpu = await testGpu();
    const model = new Model(gpu, vcfg);
    model.loadWeights(vw);
    try {
      const { ids, patches } = vlmBatch(vcfg, 2, 9, 31, 1);
      const ps = [ids[0], ids[1].slice(0, 6)]; // two lengths: the second prompt is left-padded
      const per = patches.length / 2;
      const G = 4;
      const opts = { maxNewTokens: 6, temperature: 1, seed: 3, kvCache: 'f32' as const };
      const shared = await generate(model, ps, { ...opts, samplesPerPrompt: G }, { patches, nImages: 2 });
      const twice = new Float32Array(per * 2 * G);
      for (let j = 0; j < 2 * G; j++) twice.set(patches.subarray(Math.floor(j / G) * per, (Math.floor(j / G) + 1) * per), j * per);
      const alone = await generate(
        model,
        ps.flatMap((p) => Array.from({ length: G }, () => p)),
        opts,
        { patches: twice, nImages: 2 * G },
      );
      expect(shared.ids).toEqual(alone.ids);
      const lp = compare(shared.logps.flat(), alone.logps.flat(), 1e-5, 1e-5);
      expect(lp.ok, `log-probs with images: ${lp.msg}`).toBe(true);
      // The image matters: another picture changes what is sampled.
      const other = await generate(model, ps, { ...opts, samplesPerPrompt: G }, { patches: patches.map((x) => 1 - x), nImages: 2 });
      expect(other.logps.flat()).not.toEqual(shared.logps.flat());
    } finally {
      model.release();
    }
  });
});
