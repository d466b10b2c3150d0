// Encoded SFT examples to the engine's TokenBatch micro-batches. Each row is one example, padded on
// the right (padding after the last real token never reaches earlier tokens under the causal mask,
// and its targets are IGNORE). SFT does not pack several short examples into one row: at the lab's
// sizes padding to the longest example of the micro-batch wastes little. GRPO does pack a
// question's responses into one row behind their shared prompt (packSharedPrompts, below), where
// the prompt is most of every sequence.
import { InputError } from '../engine/errors';
import { IGNORE, joinImages, nextTokenTargets, type TokenBatch } from '../model/batch';
import type { EncodedExample } from '../task/encode';

export interface BatchingOptions {
  /** Longest example (prompt + target + end of turn) in tokens; at most the model's context. */
  maxLength: number;
  /** Examples longer than maxLength: dropped, or cut at maxLength (their answer then partly lost). */
  overflow: 'drop' | 'truncate';
  /** Rows padded to the longest example of the micro-batch, or always to maxLength (one batch shape). */
  pad: 'longest' | 'max';
  /**
   * With pad 'longest', the row length is rounded up to a multiple of this: the trainer keeps one
   * activation arena per batch shape, so fewer distinct lengths mean fewer reallocations.
   */
  padMultiple: number;
  /** Id written into padding; its targets are IGNORE, so only its validity matters. */
  padId: number;
  /** The model's `<image>` id: with it, only placeholders in a row's prompt (loss mask 0) take images. */
  imageTokenId?: number;
}

export interface FitReport {
  /** Indices (into the input) of examples kept, in input order. */
  kept: number[];
  /** Longer than maxLength and dropped (or, when truncated, left with no target token). */
  dropped: { index: number; length: number; reason: string }[];
  /** Cut to maxLength; `length` is the original length. */
  truncated: { index: number; length: number }[];
}

/**
 * Apply the length limit to examples. Truncation keeps the first maxLength tokens, and is refused
 * (the example is dropped) when the cut would split an image's placeholder run or leave no token
 * carrying loss.
 */
export function fitExamples(
  examples: EncodedExample[],
  o: Pick<BatchingOptions, 'maxLength' | 'overflow'> & { imageTokenId?: number },
): { examples: EncodedExample[]; report: FitReport } {
  const out: EncodedExample[] = [];
  const report: FitReport = { kept: [], dropped: [], truncated: [] };
  examples.forEach((ex, index) => {
    const length = ex.ids.length;
    if (length <= o.maxLength) {
      out.push(ex);
      report.kept.push(index);
      return;
    }
    if (o.overflow === 'drop') {
      report.dropped.push({ index, length, reason: `${length} tokens > maxLength ${o.maxLength}` });
      return;
    }
    const ids = ex.ids.slice(0, o.maxLength);
    const lossMask = ex.lossMask.slice(0, o.maxLength);
    // The first predicted token is position 1, so a mask that is only 1 at position 0 trains nothing.
    if (!lossMask.subarray(1).some((m) => m === 1)) {
      report.dropped.push({ index, length, reason: `truncating to ${o.maxLength} tokens leaves no answer token` });
      return;
    }
    if (
      o.imageTokenId !== undefined &&
      ex.nImages > 0 &&
      ex.ids.filter((t) => t === o.imageTokenId).length !== ids.filter((t) => t === o.imageTokenId).length
    ) {
      report.dropped.push({ index, length, reason: `truncating to ${o.maxLength} tokens would cut an image` });
      return;
    }
    out.push({ ...ex, ids, lossMask });
    report.kept.push(index);
    report.truncated.push({ index, length });
  });
  return { examples: out, report };
}

/** One micro-batch: rows right-padded to a common length, next-token targets where the loss mask is on. */
export function collate(examples: EncodedExample[], o: BatchingOptions): TokenBatch {
  if (examples.length === 0) throw new InputError('batch', 'no examples to collate');
  const longest = Math.max(...examples.map((e) => e.ids.length));
  if (longest > o.maxLength) throw new InputError('batch', `an example has ${longest} tokens, more than maxLength ${o.maxLength} (run fitExamples first)`);
  const mult = Math.max(1, o.padMultiple);
  const T = o.pad === 'max' ? o.maxLength : Math.min(o.maxLength, Math.ceil(longest / mult) * mult);
  const B = examples.length;
  const ids = new Uint32Array(B * T).fill(o.padId);
  const mask = new Uint8Array(B * T);
  examples.forEach((e, b) => {
    ids.set(e.ids, b * T);
    mask.set(e.lossMask, b * T);
  });
  const targets = nextTokenTargets(ids, B, T, mask);
  const batch: TokenBatch = { B, T, ids, targets };
  const images = joinImages(examples);
  if (images) {
    batch.patches = images.patches;
    batch.nImages = images.nImages;
    if (o.imageTokenId !== undefined) {
      // Only the prompt's placeholders (loss mask 0) carry images; the target part never does.
      const positions: number[] = [];
      examples.forEach((e, b) => {
        for (let t = 0; t < e.ids.length; t++) if (e.ids[t] === o.imageTokenId && !e.lossMask[t]) positions.push(b * T + t);
      });
      batch.imagePositions = Uint32Array.from(positions);
    }
  }
  return batch;
}

/** Target tokens (positions carrying loss) of a batch. */
export function countTargets(b: TokenBatch): number {
  let n = 0;
  const t = b.targets;
  if (t) for (let i = 0; i < t.length; i++) if (t[i] !== IGNORE) n++;
  return n;
}

/**
 * One optimizer step's examples split into micro-batches of at most `microBatch` rows each
 * (gradient accumulation: the trainer sums their gradients, weighting every target token equally).
 */
export function microBatches(examples: EncodedExample[], microBatch: number, o: BatchingOptions): TokenBatch[] {
  if (!(microBatch >= 1)) throw new InputError('batch', `micro-batch size must be >= 1, got ${microBatch}`);
  const out: TokenBatch[] = [];
  for (let i = 0; i < examples.length; i += microBatch) out.push(collate(examples.slice(i, i + microBatch), o));
  return out;
}

/** One prompt and responses sampled from it, to be packed into one row (packSharedPrompts). */
export interface PromptGroup {
  /** The prompt's ids (at least 2) and its images. */
  prompt: number[];
  patches: Float32Array;
  nImages: number;
  responses: number[][];
}

/**
 * GRPO's shared-prompt rows: each group becomes one row holding its prompt once and then every
 * response, each response preceded by a copy of the prompt's last token:
 *
 *   p0 .. p[P-2] | p[P-1] r1_0 .. r1_a | p[P-1] r2_0 .. r2_b | ... | padding
 *
 * Each segment continues the prompt's RoPE positions (P - 1, P, ...) and hides the segments before
 * it (TokenBatch.gaps = [P - 1, its start)), so every response sees exactly the prompt and its own
 * tokens, as it would alone in a row; the copied last token is where its first token's log-prob
 * comes from. The prompt's forward, backward and images then run once per group instead of once
 * per response: the recipe's prompts are most of a sequence. `starts[g][k]`: the flat position of
 * group g's response k's segment, whose position + j predicts its token j.
 */
export function packSharedPrompts(
  groups: PromptGroup[],
  o: Pick<BatchingOptions, 'padMultiple' | 'padId' | 'imageTokenId'>,
): { batch: TokenBatch; starts: number[][] } {
  if (groups.length === 0) throw new InputError('batch', 'no groups to pack');
  const lengths = groups.map((g) => {
    if (g.prompt.length < 2) throw new InputError('batch', `a shared prompt needs at least 2 tokens, not ${g.prompt.length}`);
    return g.prompt.length - 1 + g.responses.reduce((n, r) => n + 1 + r.length, 0);
  });
  const mult = Math.max(1, o.padMultiple);
  const B = groups.length;
  const T = Math.ceil(Math.max(...lengths) / mult) * mult;
  const N = B * T;
  const ids = new Uint32Array(N).fill(o.padId);
  const targets = new Int32Array(N).fill(IGNORE);
  const positions = new Uint32Array(N);
  const gaps = new Uint32Array(2 * N);
  const imagePositions: number[] = [];
  const starts: number[][] = [];
  groups.forEach((g, b) => {
    const row = b * T;
    const P = g.prompt.length;
    for (let t = 0; t < P - 1; t++) {
      ids[row + t] = g.prompt[t];
      positions[row + t] = t;
      if (o.imageTokenId !== undefined && g.prompt[t] === o.imageTokenId) imagePositions.push(row + t);
    }
    let at = P - 1;
    starts.push(
      g.responses.map((r) => {
        const start = at;
        for (let u = 0; u <= r.length; u++) {
          const n = row + start + u;
          ids[n] = u === 0 ? g.prompt[P - 1] : r[u - 1];
          positions[n] = P - 1 + u;
          if (u < r.length) targets[n] = r[u];
          gaps[2 * n] = P - 1;
          gaps[2 * n + 1] = start;
        }
        at += r.length + 1;
        return row + start;
      }),
    );
  });
  const batch: TokenBatch = { B, T, ids, targets, positions, gaps };
  const images = joinImages(groups);
  if (images) Object.assign(batch, images, { imagePositions: Uint32Array.from(imagePositions) });
  return { batch, starts };
}
