// The memory estimate the UI shows before a run (src/model/memory.ts) against what the engine
// really allocates: the parameter, gradient and AdamW arenas of a training model plus the
// activation arena of the batch the estimate assumes, as counted by gpu.liveBytes. The estimate is
// the worst case for the head: logits for every position (a batch whose every token carries loss;
// the recipe's, mostly prompt, reserve far fewer rows).
import { it, expect } from 'vitest';
import { testGpu } from '../helpers/gpu';
import type { ModelConfig } from '../../src/model/config';
import { Model } from '../../src/model/model';
import { Activations } from '../../src/model/activations';
import { fitProblem, memoryEstimate, TRAIN_SEQS, TRAIN_TOKENS } from '../../src/model/memory';
import { LORA_TARGETS } from '../../src/model/lora';
import { CommandStream } from '../../src/engine/stream';

/** A training arena with logits reserved for `rows` of its rows (all by default: the worst case). */
function worstCase(acts: Activations, rows = acts.N): Activations {
  const s = new CommandStream(acts.gpu, 'memory');
  acts.reserveLogits(s, rows);
  s.destroy();
  return acts;
}

const cfg = (ctx: number, layers: number): ModelConfig => ({
  text: {
    architecture: 'llama',
    vocabSize: 300,
    hiddenSize: 64,
    intermediateSize: 160,
    numLayers: layers,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 16,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    maxPositionEmbeddings: ctx,
    tieWordEmbeddings: true,
    qkvBias: false,
    oBias: false,
    mlpBias: false,
  },
});

it.each([
  [96, 1],
  [160, 3],
])('the training estimate is within 15%% of the bytes the engine allocates (context %i, %i layers)', async (ctx, layers) => {
  const gpu = await testGpu();
  const c = cfg(ctx, layers);
  const before = gpu.liveBytes;
  const model = new Model(gpu, c);
  model.enableTraining();
  const acts = worstCase(new Activations(gpu, c, { B: TRAIN_SEQS, T: Math.min(ctx, TRAIN_TOKENS), nImages: 0, training: true }));
  const used = gpu.liveBytes - before;
  acts.release();
  model.release();
  const est = memoryEstimate(c);
  expect(est.trainBytes / used).toBeGreaterThan(0.85);
  expect(est.trainBytes / used).toBeLessThan(1.15);
  expect(est.inferBytes).toBeLessThan(est.trainBytes);
});

it('at a wide vocabulary it counts logits for the loss rows only (an answer of 12 tokens), within 15% of what the engine allocates', async () => {
  const gpu = await testGpu();
  const c = cfg(96, 1);
  c.text.vocabSize = 8000;
  const measure = (answer?: number) => {
    const before = gpu.liveBytes;
    const model = new Model(gpu, c);
    model.enableTraining();
    const acts = worstCase(new Activations(gpu, c, { B: TRAIN_SEQS, T: 96, nImages: 0, training: true }), TRAIN_SEQS * (answer ?? 96));
    const used = gpu.liveBytes - before;
    acts.release();
    model.release();
    const est = memoryEstimate(c, null, { headTokens: answer }).trainBytes;
    expect(est / used).toBeGreaterThan(0.85);
    expect(est / used).toBeLessThan(1.15);
    return est;
  };
  // Every token's logits and their gradient are most of this model's training memory; an answer's are not.
  expect(measure(12)).toBeLessThan(0.5 * measure());
});

it('with LoRA the estimate counts the frozen weights once and the adapters four times, within 15% of what the engine allocates', async () => {
  const gpu = await testGpu();
  const c = cfg(160, 3);
  const lora = { rank: 8, alpha: 16, targets: LORA_TARGETS };
  const before = gpu.liveBytes;
  const model = new Model(gpu, c);
  model.addLora(lora);
  model.enableTraining();
  const acts = worstCase(new Activations(gpu, c, { B: TRAIN_SEQS, T: Math.min(160, TRAIN_TOKENS), nImages: 0, training: true }, lora));
  const used = gpu.liveBytes - before;
  acts.release();
  model.release();
  const est = memoryEstimate(c, lora);
  expect(est.trainBytes / used).toBeGreaterThan(0.85);
  expect(est.trainBytes / used).toBeLessThan(1.15);
  // Per layer, r x (in + out) for q, k, v, o (64+64, 64+32, 64+32, 64+64) and gate, up, down (64+160 each), rank 8.
  expect(est.loraParams).toBe(3 * 8 * (128 + 96 + 96 + 128 + 3 * 224));
  // Less than full fine-tuning of the same model: no gradient or moments for the base.
  expect(est.trainBytes).toBeLessThan(memoryEstimate(c).trainBytes);
  // A budget between the two: full training is refused, LoRA training is not.
  const budget = { maxBindingBytes: 1 << 30, memoryBytes: (est.trainBytes + memoryEstimate(c).trainBytes) / 2 };
  expect(fitProblem(c, budget, 'train')).toMatch(/training needs about/);
  expect(fitProblem(c, budget, 'train', lora)).toBeNull();
  expect(fitProblem(c, { ...budget, memoryBytes: est.trainBytes / 2 }, 'train', lora)).toMatch(/LoRA training needs about .* adapter weights/);
});

it('with activation checkpointing the estimate keeps one layer of saved tensors, within 15% of what the engine allocates', async () => {
  const gpu = await testGpu();
  const c = cfg(160, 4);
  const before = gpu.liveBytes;
  const model = new Model(gpu, c);
  model.enableTraining({ checkpoint: true });
  const acts = worstCase(new Activations(gpu, c, { B: TRAIN_SEQS, T: Math.min(160, TRAIN_TOKENS), nImages: 0, training: true, checkpoint: true }));
  const used = gpu.liveBytes - before;
  acts.release();
  model.release();
  const est = memoryEstimate(c, null, { checkpoint: true });
  expect(est.trainBytes / used).toBeGreaterThan(0.85);
  expect(est.trainBytes / used).toBeLessThan(1.15);
  expect(est.trainBytes).toBeLessThan(memoryEstimate(c).trainBytes);
  // A budget between the two: training is refused without checkpointing and allowed with it.
  const budget = { maxBindingBytes: 1 << 30, memoryBytes: (est.trainBytes + memoryEstimate(c).trainBytes) / 2 };
  expect(fitProblem(c, budget, 'train')).toMatch(/training needs about/);
  expect(fitProblem(c, budget, 'train', null, { checkpoint: true })).toBeNull();
});
