// One optimizer step of next-token training: zero grads, forward, log-probs, backward (for each
// micro-batch), global grad-norm clip, AdamW. The whole step is recorded into one CommandStream and
// reaches the GPU as a few submissions; the only readback is the per-token log-probs (for the loss)
// and the two-float grad-norm state.

import { CommandStream } from '../engine/stream';
import { ALIGN_ELEMS, BYTES, download, upload, type Tensor } from '../engine/tensor';
import { GradNorm, adamw } from '../engine/kernels/optimizer';
import { Activations } from './activations';
import { batchShape, uploadBatch, type TokenBatch } from './batch';
import { logprobs, textBackward, textForward, zeroGrads } from './forward';
import type { Model } from './model';

export interface OptimConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Global gradient-norm clip; 0 disables. */
  gradClip: number;
}

export const DEFAULT_OPTIM: OptimConfig = { lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 1e-4, gradClip: 1.0 };

export interface StepResult {
  /** Mean negative log-likelihood over the target tokens of all micro-batches. */
  loss: number;
  tokens: number;
  gradNorm: number;
}

export class Trainer {
  readonly stream: CommandStream;
  private acts: Activations | null = null;
  /** The global grad norm of the last update (state[0], before clipping), kept on the GPU. */
  readonly gradNorm: GradNorm;
  step = 0;
  /** AdamW's dispatches: runs of trainable tensors (updateRuns), found on the first update. */
  private runs: UpdateRun[] | null = null;

  constructor(
    readonly model: Model,
    public optim: OptimConfig = { ...DEFAULT_OPTIM },
    /** Activation checkpointing of the text blocks (BatchShape.checkpoint): less memory, more compute, the same gradients. */
    readonly checkpoint = false,
  ) {
    model.enableTraining({ checkpoint });
    this.stream = new CommandStream(model.gpu, 'train');
    this.gradNorm = new GradNorm(model.gpu);
  }

  /** The activation arena for this batch's shape, reallocated only when the shape changes. */
  activations(b: TokenBatch): Activations {
    const shape = { ...batchShape(b, true), checkpoint: this.checkpoint };
    if (!this.acts?.matches(shape)) {
      this.acts?.release();
      this.acts = new Activations(this.model.gpu, this.model.cfg, shape, this.model.lora);
    }
    return this.acts;
  }

  /** Forward + backward of one micro-batch, its loss weighted so the step's loss is the mean over all target tokens. */
  private microBatch(b: TokenBatch, totalTokens: number): { acts: Activations; count: number } {
    const m = this.model,
      s = this.stream;
    const acts = this.activations(b);
    const count = uploadBatch(m, acts, b);
    const coef = new Float32Array(acts.N);
    const targets = b.targets!;
    for (let i = 0; i < acts.N; i++) if (targets[i] >= 0) coef[i] = -1 / Math.max(1, totalTokens);
    upload(m.gpu, acts.get('coef'), coef);
    textForward(s, m, acts, { logits: 'loss' });
    logprobs(s, m, acts);
    textBackward(s, m, acts);
    return { acts, count };
  }

  /**
   * Gradients of the mean NLL over all target tokens of the micro-batches (gradient
   * accumulation), left in the model's gradient arena; returns the loss.
   */
  async computeGrads(microBatches: TokenBatch[]): Promise<{ loss: number; tokens: number }> {
    const m = this.model,
      s = this.stream;
    const total = microBatches.reduce((n, b) => n + (b.targets ? countTargets(b.targets) : 0), 0);
    zeroGrads(s, m);
    let nll = 0;
    for (const b of microBatches) {
      if (!b.targets) throw new Error('trainer: batch has no targets');
      const { acts } = this.microBatch(b, total);
      s.submit();
      // Each micro-batch reuses the arena, so its log-probs are read before the next overwrites them.
      const logp = await download(m.gpu, acts.get('logp'));
      for (let i = 0; i < acts.N; i++) if (b.targets[i] >= 0) nll -= logp[i];
    }
    return { loss: nll / Math.max(1, total), tokens: total };
  }

  /** One optimizer step over the given micro-batches. */
  async trainStep(microBatches: TokenBatch[], lr = this.optim.lr): Promise<StepResult> {
    const { loss, tokens } = await this.computeGrads(microBatches);
    this.step++;
    this.applyUpdate(lr);
    const state = await download(this.model.gpu, this.gradNorm.state);
    await this.stream.sync();
    return { loss, tokens, gradNorm: state[0] };
  }

  /** Clip by the global norm and apply AdamW to every parameter tensor. */
  applyUpdate(lr: number): void {
    const m = this.model,
      s = this.stream,
      o = this.optim;
    this.gradNorm.reset(s);
    // The gradient arena holds exactly the trainable tensors, and zeroGrads zeroes its slabs whole
    // (gaps included): one sum of squares per slab is the norm, in one dispatch instead of one per
    // tensor (on SwiftShader the per-tensor sums were 6-7% of a GPU-path step, one per slab 4-5%).
    for (let i = 0; i < m.grads!.slabs.length; i++) this.gradNorm.accumulate(s, m.grads!.slabTensor(i));
    this.gradNorm.finalize(s, o.gradClip);
    this.runs ??= updateRuns(m);
    for (const r of this.runs) {
      adamw(
        s,
        r.p,
        r.g,
        r.m,
        r.v,
        {
          lr,
          beta1: o.beta1,
          beta2: o.beta2,
          eps: o.eps,
          weightDecay: r.decay ? o.weightDecay : 0,
          step: this.step,
        },
        this.gradNorm.state,
      );
    }
    s.submit();
  }

  /** Mean loss of a batch without updating (evaluation). */
  async evalLoss(b: TokenBatch): Promise<number> {
    const m = this.model,
      s = this.stream;
    const acts = this.activations(b);
    uploadBatch(m, acts, b);
    textForward(s, m, acts, { logits: 'loss' });
    logprobs(s, m, acts);
    s.submit();
    const logp = await download(m.gpu, acts.get('logp'));
    let nll = 0,
      n = 0;
    for (let i = 0; i < acts.N; i++)
      if (b.targets![i] >= 0) {
        nll -= logp[i];
        n++;
      }
    return nll / Math.max(1, n);
  }

  release(): void {
    this.acts?.release();
    this.acts = null;
    this.gradNorm.destroy();
    this.stream.destroy();
  }
}

function countTargets(t: Int32Array): number {
  let n = 0;
  for (let i = 0; i < t.length; i++) if (t[i] >= 0) n++;
  return n;
}

/** One AdamW dispatch: the same stretch of the parameter, gradient and both moment arenas. */
export interface UpdateRun {
  names: string[];
  decay: boolean;
  p: Tensor;
  g: Tensor;
  m: Tensor;
  v: Tensor;
}

/**
 * The trainable tensors as runs that AdamW can update in one dispatch each: consecutive tensors
 * with the same weight-decay setting that sit back to back (at the next 256-byte boundary) in all
 * four arenas. The gaps between them are zero in all four and stay zero under AdamW (no gradient,
 * no moment, a zero weight decays to zero). A Llama's decayed projections and its undecayed norms
 * alternate, so a model of L layers takes about 2L + 2 dispatches instead of 9L + 2. With the
 * grad norm's one sum per slab, a training step went from 130 to 101 dispatches (micro) and 244 to
 * 187 (tiny); on SwiftShader AdamW's share of the step stayed 5-8%, which is its elementwise work.
 */
export function updateRuns(m: Model): UpdateRun[] {
  const views = (name: string) => ({ p: m.p(name), g: m.g(name), m: m.adamM!.get(name), v: m.adamV!.get(name) });
  const align = ALIGN_ELEMS * BYTES;
  const next = (t: Tensor) => Math.ceil((t.byteOffset + t.size * BYTES) / align) * align;
  const runs: { names: string[]; decay: boolean; first: ReturnType<typeof views>; last: ReturnType<typeof views> }[] = [];
  for (const spec of m.trainable) {
    const v = views(spec.name);
    const r = runs[runs.length - 1];
    const adjoins =
      r && r.decay === spec.decay && (['p', 'g', 'm', 'v'] as const).every((k) => v[k].buffer === r.last[k].buffer && v[k].byteOffset === next(r.last[k]));
    if (adjoins) {
      r.names.push(spec.name);
      r.last = v;
    } else runs.push({ names: [spec.name], decay: spec.decay, first: v, last: v });
  }
  const span = (a: Tensor, b: Tensor, label: string): Tensor => {
    const size = (b.byteOffset - a.byteOffset) / BYTES + b.size;
    return { name: label, buffer: a.buffer, byteOffset: a.byteOffset, shape: [size], dtype: 'f32', size };
  };
  return runs.map((r) => {
    const label = r.names.length === 1 ? r.names[0] : `${r.names[0]} .. ${r.names[r.names.length - 1]}`;
    return {
      names: r.names,
      decay: r.decay,
      p: span(r.first.p, r.last.p, label),
      g: span(r.first.g, r.last.g, label),
      m: span(r.first.m, r.last.m, label),
      v: span(r.first.v, r.last.v, label),
    };
  });
}
