// Tiny model configs and batches shared by the whole-model tests.
import type { ModelConfig } from '../../src/model/config';
import { initWeights, type WeightMap } from '../../src/model/model';
import { patchDim, patchesPerImage } from '../../src/model/config';
import { rng } from '../helpers/gpu';
import type { TokenBatch } from '../../src/model/batch';
import * as ref from '../reference/llama-f64';

/** A VLM small enough for float64 finite differences: every feature on (GQA, biases, untied head, vision). */
export function tinyVlm(overrides: Partial<ModelConfig['text']> = {}): ModelConfig {
  return {
    text: {
      architecture: 'qwen2',
      vocabSize: 40,
      hiddenSize: 32,
      intermediateSize: 48,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 8,
      rmsNormEps: 1e-6,
      ropeTheta: 10000,
      maxPositionEmbeddings: 64,
      tieWordEmbeddings: false,
      qkvBias: true,
      oBias: false,
      mlpBias: false,
      ...overrides,
    },
    vision: { imageSize: 8, patchSize: 4, channels: 1, hiddenSize: 16, intermediateSize: 24, numLayers: 1, numHeads: 2, rmsNormEps: 1e-6 },
    imageTokenId: 39,
  };
}

/** Weights with every tensor non-trivial (norms and biases perturbed too, so their gradients are exercised). */
export function randomWeights(cfg: ModelConfig, seed: number, std = 0.25): WeightMap {
  const w = initWeights(cfg, seed, std);
  const r = rng(seed + 1);
  for (const [name, t] of w) {
    if (name.endsWith('norm.weight')) for (let i = 0; i < t.data.length; i++) t.data[i] = 1 + 0.2 * r.uniform();
    else if (name.endsWith('.bias') || name === 'vision.pos_embed') for (let i = 0; i < t.data.length; i++) t.data[i] = 0.2 * r.uniform();
  }
  return w;
}

export const asRefWeights = (w: WeightMap) => new Map([...w].map(([k, v]) => [k, v.data]));

/** B sequences of length T, each with one image run starting at `imageAt`, random other tokens. */
export function vlmBatch(cfg: ModelConfig, B: number, T: number, seed: number, imageAt = 2) {
  const r = rng(seed);
  const V = cfg.text.vocabSize;
  const P = cfg.vision ? patchesPerImage(cfg.vision) : 0;
  const ids: number[][] = [];
  for (let b = 0; b < B; b++) {
    const seq: number[] = [];
    for (let t = 0; t < T; t++) {
      seq.push(cfg.vision && t >= imageAt && t < imageAt + P ? cfg.imageTokenId! : r.int(V - 1));
    }
    ids.push(seq);
  }
  const nImages = cfg.vision ? B : 0;
  const patches = new Float32Array(nImages * P * (cfg.vision ? patchDim(cfg.vision) : 0));
  for (let i = 0; i < patches.length; i++) patches[i] = r.uniform();
  return { ids, nImages, patches };
}

/** Mean NLL of the targets under the float64 reference. */
export function refLoss(cfg: ModelConfig, w: Map<string, Float32Array>, batch: TokenBatch, ids: number[][]): number {
  const feats = batch.nImages ? ref.visionForward(cfg, w, batch.patches!) : undefined;
  const logits = ref.forwardLogits(cfg, w, ids, { imageFeatures: feats });
  const V = cfg.text.vocabSize;
  let nll = 0,
    n = 0;
  batch.targets!.forEach((tgt, i) => {
    if (tgt < 0) return;
    let mx = -Infinity;
    for (let v = 0; v < V; v++) mx = Math.max(mx, logits[i * V + v]);
    let z = 0;
    for (let v = 0; v < V; v++) z += Math.exp(logits[i * V + v] - mx);
    nll -= logits[i * V + tgt] - mx - Math.log(z);
    n++;
  });
  return nll / n;
}
