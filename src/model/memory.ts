// How much GPU memory a model needs, before it is built: the UI warns before a run or a load that
// would not fit the adapter. test/model/memory.test.ts checks it against the engine's own count.
import { countParams, type ModelConfig } from './config';

/** The typical training batch the estimate assumes: sequences, and tokens per sequence at most. */
export const TRAIN_SEQS = 8;
export const TRAIN_TOKENS = 512;

/**
 * GPU memory to train and to run a model, in bytes (an estimate, for the UI to warn before a run).
 * Every tensor is f32. Training: the weights, their gradients and the two AdamW moments (params x
 * 4 bytes x 4), plus the activation arena of a typical batch (TRAIN_SEQS sequences of
 * min(context, TRAIN_TOKENS) tokens), counted per token as src/model/activations.ts lays it out:
 * the residual stream per layer, each layer's saved norms, q/k/v, attention output and MLP
 * halves, the logits and their gradient, and the backward scratch one layer needs. Running: the
 * weights, the KV cache of one sequence at the full context, and one prefill of that sequence
 * (inference shares one set of per-layer buffers and keeps only the last row's logits). The vision
 * encoder's activations are left out: at lab sizes they are small next to the text side's.
 */
export function memoryEstimate(cfg: ModelConfig): { params: number; trainBytes: number; inferBytes: number } {
  const t = cfg.text;
  const params = countParams(cfg);
  const d = t.hiddenSize, f = t.intermediateSize, q = t.numHeads * t.headDim, kv = t.numKvHeads * t.headDim, h = t.numHeads, V = t.vocabSize, L = t.numLayers;
  const perLayer = 3 * d + 2 + 2 * q + 2 * kv + h + 3 * f;
  const io = 4 + d + 1 + 3;
  const trainPerToken = io + (L + 1) * d + L * perLayer + V + (2 * d + 2 * q + 2 * kv + h + 3 * f) + V + 3;
  const trainTokens = TRAIN_SEQS * Math.min(t.maxPositionEmbeddings, TRAIN_TOKENS);
  const ctx = t.maxPositionEmbeddings;
  const kvCache = 2 * L * kv * ctx;
  const prefill = ctx * (io + 2 * d + perLayer);
  return {
    params,
    trainBytes: 4 * (4 * params + trainTokens * trainPerToken),
    inferBytes: 4 * (params + kvCache + prefill + V),
  };
}
