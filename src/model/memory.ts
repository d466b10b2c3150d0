// How much GPU memory a model needs, before it is built: the UI warns before a run or a load that
// would not fit the adapter, and `checkFits` refuses one before anything is allocated. test/model/memory.test.ts checks it against the engine's own count.
import { InputError } from '../engine/errors';
import { countParams, idefics3ParamSpecs, isF16Weight, paramSpecs, patchDim, patchesPerImage, textPrefix, type ModelConfig } from './config';
import { loraSpecs, type LoraSpec } from './lora';

/** The typical training batch the estimate assumes: sequences, and tokens per sequence at most. */
export const TRAIN_SEQS = 8;
export const TRAIN_TOKENS = 512;

/**
 * GPU memory to train and to run a model, in bytes (an estimate, for the UI to warn before a run).
 * Every tensor is f32. Training: the weights, their gradients and the two AdamW moments (params x
 * 4 bytes x 4), plus the activation arena of a typical batch (TRAIN_SEQS sequences of
 * min(context, TRAIN_TOKENS) tokens), counted per token as src/model/activations.ts lays it out:
 * the residual stream per layer, each layer's saved norms, q/k/v, attention output and MLP
 * halves, the compacted loss rows and the backward scratch one layer needs; plus the logits of
 * the rows that carry a loss (o.headTokens; their gradient is written over them). Running: the
 * weights, the KV cache of one sequence at the full context, and one prefill of that sequence
 * (inference shares one set of per-layer buffers and keeps only the last row's logits). The vision
 * encoder's activations are left out: at lab sizes they are small next to the text side's.
 */
export function memoryEstimate(
  cfg: ModelConfig,
  lora: LoraSpec | null = null,
  /**
   * checkpoint: activation checkpointing (Trainer), one block's saved tensors instead of one set per
   * layer. f16: the frozen base's Linear weights in f16 (Model frozenF16), 2 bytes each.
   * headTokens: tokens per sequence that carry a loss, the rows that get logits
   * (Activations.reserveLogits): an SFT run's longest answer, GRPO's response budget;
   * default every token (plain next-token training).
   */
  o: MemoryOptions = {},
): { params: number; trainBytes: number; inferBytes: number; loraParams: number; weightBytes: number } {
  const t = cfg.text;
  const params = countParams(cfg);
  const d = t.hiddenSize,
    f = t.intermediateSize,
    q = t.numHeads * t.headDim,
    kv = t.numKvHeads * t.headDim,
    h = t.numHeads,
    V = t.vocabSize,
    L = t.numLayers;
  const perLayer = 3 * d + 2 + 2 * q + 2 * kv + h + 3 * f;
  const io = 4 + d + 1 + 3;
  const kept = o.checkpoint ? 1 : L;
  // ... + the compacted loss rows (their index, target, final-norm row, log-prob, entropy, coef).
  const trainPerToken = io + (L + 1) * d + kept * perLayer + (2 * d + 2 * q + 2 * kv + h + 3 * f) + 3 + (d + 5);
  const seqTokens = Math.min(t.maxPositionEmbeddings, TRAIN_TOKENS);
  const trainTokens = TRAIN_SEQS * seqTokens;
  // The logits (their gradient is written over them), for the loss rows only, reserved in steps of 64 rows.
  const headRows = Math.min(trainTokens, Math.ceil((TRAIN_SEQS * Math.min(seqTokens, Math.max(1, o.headTokens ?? seqTokens))) / 64) * 64);
  const head = headRows * V;
  const ctx = t.maxPositionEmbeddings;
  const kvCache = 2 * L * kv * ctx;
  // One residual buffer, and no xmid: inference adds both branches of a block in place.
  const prefill = ctx * (io + d + perLayer - d);
  // LoRA: the frozen weights once, the adapters four times (weights, gradients, two moments), and
  // per token each adapted layer's saved x·Aᵀ plus one shared backward scratch of rank r.
  const loraParams = lora ? loraSpecs(cfg, lora).reduce((n, s) => n + s.shape[0] * s.shape[1], 0) : 0;
  const loraPerToken = lora ? lora.rank * (kept * lora.targets.length + 1) : 0;
  const sv = cfg.idefics3;
  const frozen = sv ? idefics3ParamSpecs(sv, d).reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0) : 0;
  // Per tile: the residual stream, norm output, q/k/v/attention, the MLP's two halves, the
  // post-norm output and its shuffled copy, and the connector output.
  const towerTile = sv ? patchesPerImage(sv) * (8 * sv.hiddenSize + 2 * sv.intermediateSize + 2) + (patchesPerImage(sv) / sv.scaleFactor ** 2) * d : 0;
  const towerTrain = TRAIN_SEQS * towerTile;
  // f16 weights count half; paramSpecs lists every layer, O(layers), only when asked.
  const halved = o.f16 ? paramSpecs(cfg).reduce((n, p) => n + (isF16Weight(p.name) ? p.shape.reduce((a, b) => a * b, 1) : 0), 0) / 2 : 0;
  const base = params - halved;
  return {
    params,
    loraParams,
    weightBytes: 4 * base,
    trainBytes: lora
      ? 4 * (base + 4 * loraParams + trainTokens * (trainPerToken + loraPerToken) + head + towerTrain)
      : 4 * (4 * (params - frozen) + frozen + trainTokens * trainPerToken + head + towerTrain),
    inferBytes: 4 * (base + kvCache + prefill + V),
  };
}

/** How a run trains, as far as its memory goes (memoryEstimate). */
export interface MemoryOptions {
  checkpoint?: boolean;
  f16?: boolean;
  headTokens?: number;
}

/** What an adapter offers a model: its largest buffer, and its memory when the host knows it (Gpu.memoryBytes). */
export interface AdapterBudget {
  maxBindingBytes: number;
  memoryBytes?: number | null;
}

/** The largest parameter tensor of a model, from the config in O(1). */
export function largestParam(cfg: ModelConfig): { name: string; shape: [number, number]; bytes: number } {
  const t = cfg.text,
    d = t.hiddenSize;
  const c: { name: string; shape: [number, number] }[] = [
    { name: `${textPrefix(cfg)}embed_tokens.weight`, shape: [t.vocabSize, d] },
    { name: `${textPrefix(cfg)}layers.0.mlp.gate_proj.weight`, shape: [t.intermediateSize, d] },
    { name: `${textPrefix(cfg)}layers.0.self_attn.q_proj.weight`, shape: [t.numHeads * t.headDim, d] },
  ];
  const s = cfg.idefics3;
  if (s) {
    // Every tensor of the tower has one layer's shapes; the first layer stands for all.
    for (const p of idefics3ParamSpecs({ ...s, numLayers: 1 }, d)) c.push({ name: p.name, shape: [p.shape[0], p.shape.slice(1).reduce((a, b) => a * b, 1)] });
  }
  const v = cfg.vision;
  if (v) {
    c.push(
      { name: 'vision.patch_embed.weight', shape: [v.hiddenSize, patchDim(v)] },
      { name: 'vision.pos_embed', shape: [patchesPerImage(v), v.hiddenSize] },
      { name: 'vision.layers.0.mlp.gate_proj.weight', shape: [v.intermediateSize, v.hiddenSize] },
      { name: 'vision.projector.fc2.weight', shape: [d, d] },
    );
  }
  const best = c.reduce((a, b) => (b.shape[0] * b.shape[1] > a.shape[0] * a.shape[1] ? b : a));
  return { ...best, bytes: 4 * best.shape[0] * best.shape[1] };
}

// Small sizes in MB: a toy model's budget would read "0.00 GB".
const gb = (b: number) => (b < 1e8 ? `${(b / 1e6).toFixed(1)} MB` : `${(b / 1e9).toFixed(b < 1e9 ? 2 : 1)} GB`);

/**
 * Why `cfg` cannot be run ('infer': its weights) or trained ('train': weights, gradients, AdamW
 * moments and a typical batch, as memoryEstimate counts) on an adapter, or null when it fits.
 */
export function fitProblem(
  cfg: ModelConfig,
  budget: AdapterBudget,
  use: 'infer' | 'train',
  lora: LoraSpec | null = null,
  o: MemoryOptions = {},
): string | null {
  const big = largestParam(cfg);
  if (big.bytes > budget.maxBindingBytes) {
    return (
      `tensor ${big.name} [${big.shape.join(', ')}] needs ${gb(big.bytes)} in one buffer, more than this adapter's largest buffer ` +
      `(${gb(budget.maxBindingBytes)}: maxBufferSize / maxStorageBufferBindingSize)`
    );
  }
  if (budget.memoryBytes) {
    const est = memoryEstimate(cfg, use === 'train' ? lora : null, o);
    const need = use === 'train' ? est.trainBytes : est.weightBytes;
    if (need > budget.memoryBytes) {
      const what =
        use !== 'train'
          ? `its weights need ${gb(need)}`
          : lora
            ? `LoRA training needs about ${gb(need)} (the frozen weights, ${est.loraParams.toLocaleString('en-US')} adapter weights with their gradients and AdamW moments, and a batch of ${TRAIN_SEQS} x ${TRAIN_TOKENS} tokens)`
            : `training needs about ${gb(need)} (weights, gradients, AdamW moments and a batch of ${TRAIN_SEQS} x ${TRAIN_TOKENS} tokens)`;
      return `${est.params.toLocaleString('en-US')} parameters: ${what}, more than the ${gb(budget.memoryBytes)} of memory this adapter has`;
    }
  }
  return null;
}

/** Throws an InputError naming `where` when `cfg` does not fit the adapter (fitProblem). */
export function checkFits(
  cfg: ModelConfig,
  budget: AdapterBudget,
  use: 'infer' | 'train',
  where: string,
  lora: LoraSpec | null = null,
  o: MemoryOptions = {},
): void {
  const p = fitProblem(cfg, budget, use, lora, o);
  if (p) throw new InputError(where, `too big for this adapter: ${p}`);
}
