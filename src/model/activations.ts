// The activation arena for one batch shape (B sequences of T tokens, with nImages images), llm.c
// style: every tensor the forward pass saves for the backward pass, and the backward scratch, in
// one arena allocated once per shape. In inference mode all layers share one set of per-layer
// buffers, since nothing is kept for a backward pass.

import { EngineError } from '../engine/errors';
import type { Gpu } from '../engine/gpu';
import type { CommandStream } from '../engine/stream';
import { Arena, type ArenaEntry, type Tensor } from '../engine/tensor';
import { imageTokens, patchDim, patchesPerImage, type ModelConfig } from './config';
import type { LoraSpec } from './lora';

export interface BatchShape {
  B: number;
  T: number;
  /** Images in the batch (each fills patchesPerImage placeholder tokens). */
  nImages: number;
  training: boolean;
  /** Skip the [B*T, vocab] logits buffer (generation prefill only needs the last row's). */
  noLogits?: boolean;
  /**
   * Activation checkpointing (training): keep only each text block's input; the backward runs the
   * block's forward again just before its backward, into one set of buffers all blocks share.
   * Memory per token drops from L sets of saved tensors to one, for a third more compute.
   */
  checkpoint?: boolean;
}

/**
 * Per-layer saved tensors, for a block of width d, ffn f, heads h, kv heads kv, head dim hd, over n
 * rows. The residual stream between the two branches (xmid) is kept for training's backward only:
 * inference adds both branches in place (forward.ts blockForward).
 */
function blockEntries(
  prefix: string,
  n: number,
  b: number,
  t: number,
  d: number,
  f: number,
  h: number,
  kv: number,
  hd: number,
  training: boolean,
): ArenaEntry[] {
  const e = (name: string, shape: number[], dtype: ArenaEntry['dtype'] = 'f32') => ({ name: `${prefix}${name}`, shape, dtype });
  return [
    e('ln1', [n, d]),
    e('rstd1', [n]),
    e('q', [n, h * hd]),
    e('k', [n, kv * hd]),
    e('v', [n, kv * hd]),
    e('attn', [n, h * hd]),
    e('lse', [b, h, t]),
    ...(training ? [e('xmid', [n, d])] : []),
    e('ln2', [n, d]),
    e('rstd2', [n]),
    e('gate', [n, f]),
    e('up', [n, f]),
    e('h', [n, f]),
  ];
}

/** Backward scratch of a block (shared by all layers of that block type). */
function blockGradEntries(prefix: string, n: number, b: number, t: number, d: number, f: number, h: number, kv: number, hd: number): ArenaEntry[] {
  const e = (name: string, shape: number[]) => ({ name: `${prefix}${name}`, shape, dtype: 'f32' as const });
  return [
    e('dx', [n, d]),
    e('dln', [n, d]),
    e('dq', [n, h * hd]),
    e('dk', [n, kv * hd]),
    e('dv', [n, kv * hd]),
    e('dattn', [n, h * hd]),
    e('dscratch', [b, h, t]),
    e('dgate', [n, f]),
    e('dup', [n, f]),
    e('dh', [n, f]),
  ];
}

export class Activations {
  readonly arena: Arena;
  /** The logits (training: their gradient, written over them), apart from the arena (reserveLogits). */
  private head: Arena | null = null;
  readonly N: number;
  /** Token-id groups in the current batch's embedding-gradient plan (set by uploadBatch). */
  embRows = 0;
  /** Positions of the current batch that carry a target (set by uploadBatch): the loss rows. */
  lossRows = 0;
  /** What the logits buffer holds after the last textForward: a row per position, or per loss row (compacted). */
  logitRows: 'all' | 'loss' = 'all';
  /** The current batch's rows pack a shared prompt and its responses (set by uploadBatch from TokenBatch.gaps). */
  gaps = false;

  constructor(
    readonly gpu: Gpu,
    readonly cfg: ModelConfig,
    readonly shape: BatchShape,
    /** The model's LoRA adapters (Model.lora): each adapted layer saves x·Aᵀ [N, rank]. */
    readonly lora: LoraSpec | null = null,
  ) {
    const { B, T, nImages, training } = shape;
    const t = cfg.text;
    const N = B * T;
    this.N = N;
    const D = t.hiddenSize;
    const entries: ArenaEntry[] = [
      { name: 'ids', shape: [N], dtype: 'u32' },
      { name: 'targets', shape: [N], dtype: 'i32' },
      { name: 'positions', shape: [N], dtype: 'u32' },
      // The attention mask's key index per position, then (rows packed with a shared prompt,
      // TokenBatch.gaps) each position's hidden keys [gLo, gHi): attention.ts AttentionShape.gaps.
      { name: 'qpos', shape: [3 * N], dtype: 'u32' },
      { name: 'kstart', shape: [B], dtype: 'u32' },
    ];
    const layersKept = training && !shape.checkpoint ? t.numLayers : 1;
    for (let l = 0; l <= (training ? t.numLayers : 0); l++) entries.push({ name: `x.${l}`, shape: [N, D], dtype: 'f32' });
    for (let l = 0; l < layersKept; l++) {
      entries.push(...blockEntries(`L${l}.`, N, B, T, D, t.intermediateSize, t.numHeads, t.numKvHeads, t.headDim, training));
      for (const target of lora?.targets ?? []) entries.push({ name: `L${l}.lora.${target}`, shape: [N, lora!.rank], dtype: 'f32' });
    }
    entries.push(
      { name: 'lnf', shape: [N, D], dtype: 'f32' },
      { name: 'rstdf', shape: [N], dtype: 'f32' },
      // Only generation's prefill holds its (last rows') logits here; every other arena keeps them
      // (and, training, their gradient, written over them) apart, sized to the rows that get them (reserveLogits).
      ...(shape.noLogits ? [{ name: 'logits', shape: [B, t.vocabSize], dtype: 'f32' as const }] : []),
      { name: 'logp', shape: [N], dtype: 'f32' },
      { name: 'entropy', shape: [N], dtype: 'f32' },
      { name: 'coef', shape: [N], dtype: 'f32' },
    );
    if (!shape.noLogits) {
      // The loss rows, compacted (textForward's logits: 'loss'): their positions, targets, final-norm
      // rows, and their log-probs, entropies and loss coefficients before they are scattered back.
      entries.push(
        { name: 'loss.index', shape: [N], dtype: 'u32' },
        { name: 'loss.targets', shape: [N], dtype: 'i32' },
        { name: 'loss.x', shape: [N, D], dtype: 'f32' },
        { name: 'loss.logp', shape: [N], dtype: 'f32' },
        { name: 'loss.entropy', shape: [N], dtype: 'f32' },
        { name: 'loss.coef', shape: [N], dtype: 'f32' },
      );
    }
    if (training) {
      entries.push(...blockGradEntries('g.', N, B, T, D, t.intermediateSize, t.numHeads, t.numKvHeads, t.headDim));
      if (lora) entries.push({ name: 'g.lora', shape: [N, lora.rank], dtype: 'f32' });
      // Embedding-gradient plan (token id groups), at most N rows / positions.
      entries.push(
        { name: 'emb.rows', shape: [N], dtype: 'u32' },
        { name: 'emb.starts', shape: [N + 1], dtype: 'u32' },
        { name: 'emb.positions', shape: [N], dtype: 'u32' },
      );
    }
    const v = cfg.vision;
    if (v && nImages > 0) {
      const P = patchesPerImage(v);
      const n = nImages * P;
      const dv = v.hiddenSize;
      const vl = training ? v.numLayers : 1;
      entries.push(
        { name: 'img.patches', shape: [n, patchDim(v)], dtype: 'f32' },
        { name: 'img.index', shape: [n], dtype: 'u32' },
        { name: 'img.qpos', shape: [n], dtype: 'u32' },
        { name: 'img.kstart', shape: [nImages], dtype: 'u32' },
      );
      for (let l = 0; l <= (training ? v.numLayers : 0); l++) entries.push({ name: `vx.${l}`, shape: [n, dv], dtype: 'f32' });
      for (let l = 0; l < vl; l++)
        entries.push(...blockEntries(`V${l}.`, n, nImages, P, dv, v.intermediateSize, v.numHeads, v.numHeads, dv / v.numHeads, training));
      entries.push(
        { name: 'vnorm', shape: [n, dv], dtype: 'f32' },
        { name: 'vrstd', shape: [n], dtype: 'f32' },
        { name: 'proj1', shape: [n, D], dtype: 'f32' },
        { name: 'proj1act', shape: [n, D], dtype: 'f32' },
        { name: 'feats', shape: [n, D], dtype: 'f32' },
      );
      if (training) {
        entries.push(...blockGradEntries('vg.', n, nImages, P, dv, v.intermediateSize, v.numHeads, v.numHeads, dv / v.numHeads));
        entries.push({ name: 'dfeats', shape: [n, D], dtype: 'f32' }, { name: 'dproj', shape: [n, D], dtype: 'f32' });
      }
    }
    const sv = cfg.idefics3;
    if (sv && nImages > 0) {
      // The frozen SigLIP tower runs forward only, training or not: one layer's buffers serve every layer.
      const n = nImages * patchesPerImage(sv);
      const dv = sv.hiddenSize;
      entries.push(
        { name: 'img.patches', shape: [n, patchDim(sv)], dtype: 'f32' },
        { name: 'img.index', shape: [nImages * imageTokens(cfg)], dtype: 'u32' },
        { name: 'img.qpos', shape: [n], dtype: 'u32' },
        { name: 'img.kstart', shape: [nImages], dtype: 'u32' },
        { name: 'img.shuffle', shape: [n], dtype: 'u32' },
        { name: 'S.x', shape: [n, dv], dtype: 'f32' },
        { name: 'S.ln', shape: [n, dv], dtype: 'f32' },
        { name: 'S.rstd', shape: [n], dtype: 'f32' },
        { name: 'S.q', shape: [n, dv], dtype: 'f32' },
        { name: 'S.k', shape: [n, dv], dtype: 'f32' },
        { name: 'S.v', shape: [n, dv], dtype: 'f32' },
        { name: 'S.attn', shape: [n, dv], dtype: 'f32' },
        { name: 'S.lse', shape: [nImages, sv.numHeads, patchesPerImage(sv)], dtype: 'f32' },
        { name: 'S.fc1', shape: [n, sv.intermediateSize], dtype: 'f32' },
        { name: 'S.act', shape: [n, sv.intermediateSize], dtype: 'f32' },
        { name: 'S.shuffled', shape: [n, dv], dtype: 'f32' },
        { name: 'feats', shape: [nImages * imageTokens(cfg), D], dtype: 'f32' },
      );
    }
    this.arena = new Arena(gpu, `activations[${B}x${T}${training ? ',train' : ''}]`, entries);
  }

  get(name: string): Tensor {
    if (!this.shape.noLogits && name === 'logits') {
      if (!this.head) throw new EngineError(`${this.arena.label}: no ${name} yet (textForward reserves them for the rows it gives logits to)`);
      return this.head.get(name);
    }
    return this.arena.get(name);
  }

  /**
   * Room for the logits (training: their gradient too, written over them) of `rows` rows. The recipe trains and
   * scores the loss rows only (a fraction of the positions), and at a real vocabulary ([N, 49152]
   * for SmolVLM) full [N, V] buffers would be most of a step's memory. Grown in steps of 64 rows,
   * to N at most, never shrunk; work recorded on `s` that may use the old buffers is submitted
   * first. Generation's prefill arena (noLogits) holds its logits from the start.
   */
  reserveLogits(s: CommandStream, rows: number): void {
    if (this.shape.noLogits) return;
    if (this.head && this.head.get('logits').shape[0] >= rows) return;
    const cap = Math.min(this.N, Math.ceil(Math.max(rows, 1) / 64) * 64);
    const V = this.cfg.text.vocabSize;
    if (this.head) {
      s.submit();
      this.head.release();
    }
    this.head = new Arena(this.gpu, `${this.arena.label}.head[${cap}]`, [{ name: 'logits', shape: [cap, V], dtype: 'f32' }]);
  }
  /** Saved tensors of layer l (all text layers share layer 0's in inference mode and under checkpointing). */
  layer(prefix: 'L' | 'V', l: number, name: string): Tensor {
    const own = this.shape.training && !(prefix === 'L' && this.shape.checkpoint);
    return this.arena.get(`${prefix}${own ? l : 0}.${name}`);
  }
  /** Residual stream entering layer l (inference: one buffer every block adds to in place). */
  x(prefix: 'x' | 'vx', l: number): Tensor {
    return this.arena.get(`${prefix}.${this.shape.training ? l : 0}`);
  }

  matches(s: BatchShape): boolean {
    const m = this.shape;
    return (
      m.B === s.B && m.T === s.T && m.nImages === s.nImages && m.training === s.training && !!m.noLogits === !!s.noLogits && !!m.checkpoint === !!s.checkpoint
    );
  }

  release(): void {
    this.arena.release();
    this.head?.release();
    this.head = null;
  }
}
