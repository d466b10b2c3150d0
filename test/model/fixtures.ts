// Tiny model configs and batches shared by the whole-model tests.
import type { ModelConfig } from '../../src/model/config';
import { initWeights, type WeightMap } from '../../src/model/model';
import { patchDim, patchesPerImage } from '../../src/model/config';
import { rng } from '../helpers/gpu';

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
