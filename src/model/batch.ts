// A batch on the host, and its upload into an activation arena. Sequences are right-padded for
// training (padding after the last real token never influences earlier tokens under the causal
// mask, and its targets are ignored); generation left-pads instead (see generate.ts).

import { InputError } from '../engine/errors';
import { upload } from '../engine/tensor';
import { planEmbeddingGrad } from '../engine/kernels/embedding';
import { imageTokens, patchDim, patchesPerImage } from './config';
import { pixelShuffleIndex } from './forward';
import type { Activations, BatchShape } from './activations';
import type { Model } from './model';

export const IGNORE = -1;

export interface TokenBatch {
  B: number;
  T: number;
  /** Token ids [B*T]. */
  ids: Uint32Array;
  /** Next-token targets [B*T]; IGNORE (< 0) where no loss is taken. */
  targets?: Int32Array;
  /** Patch vectors of every image, in the order their placeholder runs appear: [nImages * patches, patchDim]. */
  patches?: Float32Array;
  nImages?: number;
  /**
   * Flat positions (b*T + t) of the placeholders that take the image features, in order. Absent:
   * every `<image>` token in `ids`. A sequence's response is not a place for images: collate lists
   * only prompt placeholders, so a sampled `<image>` (were one ever drawn) stays an ordinary token.
   */
  imagePositions?: Uint32Array;
  /**
   * RoPE positions [B*T] when a row is not one sequence from 0 (GRPO's shared-prompt rows, whose
   * responses each continue the prompt's positions). Absent: t within each row.
   */
  positions?: Uint32Array;
  /**
   * Keys each position does not see besides the causal mask, [B*T, 2] as [gLo, gHi) (empty when
   * equal): a packed response hides the responses between it and its prompt (AttentionShape.gaps).
   */
  gaps?: Uint32Array;
}

/**
 * The images of several prompts or examples as one batch's: their patches concatenated in order
 * (rows in order and each row's images in order, the order the upload finds their placeholders
 * in), or undefined when none has an image.
 */
export function joinImages(parts: readonly { patches: Float32Array; nImages: number }[]): { patches: Float32Array; nImages: number } | undefined {
  const nImages = parts.reduce((n, p) => n + p.nImages, 0);
  if (nImages === 0) return undefined;
  const patches = new Float32Array(parts.reduce((n, p) => n + p.patches.length, 0));
  let off = 0;
  for (const p of parts) {
    patches.set(p.patches, off);
    off += p.patches.length;
  }
  return { patches, nImages };
}

export function batchShape(b: TokenBatch, training: boolean): BatchShape {
  return { B: b.B, T: b.T, nImages: b.nImages ?? 0, training };
}

/** Shift-by-one language-model targets: targets[t] = ids[t+1] inside each sequence, masked by `lossMask` (on the predicted token). */
export function nextTokenTargets(ids: Uint32Array, B: number, T: number, lossMask?: Uint8Array): Int32Array {
  const out = new Int32Array(B * T).fill(IGNORE);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t + 1 < T; t++) {
      const j = b * T + t + 1;
      if (!lossMask || lossMask[j]) out[b * T + t] = ids[j];
    }
  }
  return out;
}

/** Upload ids, targets, positions and images; returns how many targets carry loss. */
export function uploadBatch(m: Model, acts: Activations, b: TokenBatch): number {
  const gpu = m.gpu;
  const { B, T } = b;
  const N = B * T;
  if (b.ids.length !== N) throw new InputError('batch', `ids has ${b.ids.length} tokens, expected B*T = ${N}`);
  const context = m.cfg.text.maxPositionEmbeddings;
  if (!b.positions && T > context) throw new InputError('batch', `sequence length ${T} exceeds the model's context (${context} tokens)`);
  if (b.positions) {
    if (b.positions.length !== N) throw new InputError('batch', `positions has ${b.positions.length} entries, expected B*T = ${N}`);
    const last = b.positions.reduce((a, x) => Math.max(a, x), 0);
    if (last >= context) throw new InputError('batch', `position ${last} is outside the model's context (${context} tokens)`);
  }
  if (b.gaps && b.gaps.length !== 2 * N) throw new InputError('batch', `gaps has ${b.gaps.length} entries, expected 2*B*T = ${2 * N}`);
  const V = m.cfg.text.vocabSize;
  for (let i = 0; i < N; i++) {
    if (b.ids[i] >= V) throw new InputError('batch', `token id ${b.ids[i]} at position ${i} is outside the vocabulary (${V})`);
  }
  upload(gpu, acts.get('ids'), b.ids);
  const targets = b.targets ?? new Int32Array(N).fill(IGNORE);
  upload(gpu, acts.get('targets'), targets);
  const qpos = new Uint32Array(b.gaps ? 3 * N : N);
  for (let i = 0; i < N; i++) qpos[i] = i % T;
  if (b.gaps) qpos.set(b.gaps, N);
  upload(gpu, acts.get('positions'), b.positions ?? qpos.subarray(0, N));
  upload(gpu, acts.get('qpos'), qpos);
  acts.gaps = !!b.gaps;
  upload(gpu, acts.get('kstart'), new Uint32Array(B));

  const imageToken = m.cfg.imageTokenId;
  const nImages = b.nImages ?? 0;
  if (nImages > 0) uploadImages(m, acts, b.ids, nImages, b.patches, b.imagePositions, 'batch');
  else if (imageToken !== undefined && b.ids.some((id) => id === imageToken)) {
    throw new InputError('batch', 'the batch has <image> tokens but no images');
  }

  let count = 0;
  for (let i = 0; i < N; i++) if (targets[i] >= 0) count++;
  if (acts.arena.has('loss.index')) {
    const index = new Uint32Array(Math.max(1, count)),
      compact = new Int32Array(Math.max(1, count));
    for (let i = 0, r = 0; i < N; i++) {
      if (targets[i] < 0) continue;
      index[r] = i;
      compact[r++] = targets[i];
    }
    upload(gpu, acts.get('loss.index'), index);
    upload(gpu, acts.get('loss.targets'), compact);
    acts.lossRows = count;
  }
  if (acts.shape.training) {
    // The embedding of a placeholder is replaced by the image feature, so it gets no gradient.
    const plan = planEmbeddingGrad(b.ids, V, imageToken !== undefined && nImages > 0 ? [imageToken] : []);
    upload(gpu, acts.get('emb.rows'), plan.rows);
    upload(gpu, acts.get('emb.starts'), plan.starts);
    upload(gpu, acts.get('emb.positions'), plan.positions);
    acts.embRows = plan.rows.length;
  }
  return count;
}

/**
 * Upload a batch's images: their patches, the flat positions their features replace (`positions`,
 * or every `<image>` token of `ids`), and the encoder's per-patch tables. Checks that the
 * placeholders and the patches agree with nImages.
 */
export function uploadImages(
  m: Model,
  acts: Activations,
  ids: Uint32Array,
  nImages: number,
  patches: Float32Array | undefined,
  positions: Uint32Array | undefined,
  where: string,
): void {
  const gpu = m.gpu;
  const imageToken = m.cfg.imageTokenId;
  const v = m.cfg.vision ?? m.cfg.idefics3;
  if (!v || imageToken === undefined) throw new InputError(where, 'this model has no vision encoder, but images were given');
  // Placeholders per image; the encoder sees P patches of each (Idefics3 folds them s^2 to a token).
  const perImage = imageTokens(m.cfg);
  const P = patchesPerImage(v);
  const index: number[] = [];
  if (positions) {
    for (const i of positions) {
      if (i >= ids.length || ids[i] !== imageToken) throw new InputError(where, `image position ${i} does not hold an <image> token`);
      index.push(i);
    }
  } else {
    for (let i = 0; i < ids.length; i++) if (ids[i] === imageToken) index.push(i);
  }
  if (index.length !== nImages * perImage) {
    throw new InputError(where, `${index.length} <image> placeholder tokens for ${nImages} images of ${perImage} tokens each (need ${nImages * perImage})`);
  }
  if (!patches || patches.length !== nImages * P * patchDim(v)) {
    throw new InputError(where, `patches must hold ${nImages}x${P}x${patchDim(v)} values, got ${patches?.length ?? 0}`);
  }
  upload(gpu, acts.get('img.patches'), patches);
  upload(gpu, acts.get('img.index'), Uint32Array.from(index));
  const ipos = new Uint32Array(nImages * P);
  for (let i = 0; i < ipos.length; i++) ipos[i] = i % P;
  upload(gpu, acts.get('img.qpos'), ipos);
  upload(gpu, acts.get('img.kstart'), new Uint32Array(nImages));
  const sv = m.cfg.idefics3;
  if (sv) upload(gpu, acts.get('img.shuffle'), pixelShuffleIndex(sv.imageSize / sv.patchSize, sv.scaleFactor, nImages));
}
