// One optimizer step of next-token training: zero grads, forward, log-probs, backward (for each
// micro-batch), global grad-norm clip, AdamW. The whole step is recorded into one CommandStream and
// reaches the GPU as a few submissions; the only readback is the per-token log-probs (for the loss)
// and the two-float grad-norm state.

import { CommandStream } from '../engine/stream';
import { download, upload } from '../engine/tensor';
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
    textForward(s, m, acts);
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
    // tensor (6-7% of a GPU-path step on SwiftShader went to the per-tensor sums).
    for (let i = 0; i < m.grads!.slabs.length; i++) this.gradNorm.accumulate(s, m.grads!.slabTensor(i));
    this.gradNorm.finalize(s, o.gradClip);
    for (const spec of m.trainable) {
      adamw(
        s,
        m.p(spec.name),
        m.g(spec.name),
        m.adamM!.get(spec.name),
        m.adamV!.get(spec.name),
        {
          lr,
          beta1: o.beta1,
          beta2: o.beta2,
          eps: o.eps,
          weightDecay: spec.decay ? o.weightDecay : 0,
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
    textForward(s, m, acts);
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
