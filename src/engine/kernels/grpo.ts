import code from '../../../shaders/grpo.wgsl?raw';
import type { CommandStream } from '../stream';
import { grid1d } from '../stream';
import type { Tensor } from '../tensor';
import { EngineError } from '../errors';
import { requireDisjoint, requireTensor } from './check';
import { uniformLayout } from '../uniforms';

const WG = 256;

export const GRPO_PARAMS = uniformLayout('grpo', 'Params', {
  n: 'u32',
  clipLow: 'f32',
  clipHigh: 'f32',
  clipC: 'f32',
  klCoef: 'f32',
  hasRef: 'u32',
  _pad0: 'u32',
  _pad1: 'u32',
});
const K = 'grpoPolicyLoss';

export interface PolicyLossOptions {
  /** Ratio clip below 1 (1 - clipLow) and above (1 + clipHigh); DAPO raises clipHigh ("clip-higher"). */
  clipLow: number;
  clipHigh: number;
  /** Dual-clip bound c > 1 for negative advantages (verl's clip_ratio_c, default 3); 0 turns it off. */
  clipC: number;
  /** Weight of the k3 KL term; 0 leaves it out of the loss (it is still reported when hasRef). */
  klCoef: number;
  /** Whether refLogp holds reference-model log-probs; without them the KL is neither used nor reported. */
  hasRef: boolean;
}

/** Columns of the stats tensor [N, 4]. */
export const STAT = { loss: 0, kl: 1, clip: 2, ratio: 3 } as const;

export function checkPolicyLossOptions(o: PolicyLossOptions): void {
  const bad = (what: string) => {
    throw new EngineError(`grpoPolicyLoss: ${what}`);
  };
  if (!(o.clipLow >= 0 && o.clipLow < 1)) bad(`clipLow ${o.clipLow} must be in [0, 1)`);
  if (!(o.clipHigh >= 0 && Number.isFinite(o.clipHigh))) bad(`clipHigh ${o.clipHigh} must be >= 0`);
  if (!(o.clipC === 0 || (o.clipC > 1 && Number.isFinite(o.clipC)))) bad(`clipC ${o.clipC} must be 0 (off) or > 1`);
  if (!(o.klCoef >= 0 && Number.isFinite(o.klCoef))) bad(`klCoef ${o.klCoef} must be >= 0`);
}

/**
 * The GRPO loss of N tokens (see shaders/grpo.wgsl): writes coef[n] = dLoss/dlogp[n] for
 * textBackward and stats [N, 4] (STAT columns) for metrics. Rows with weight 0 get zeros.
 * Without a reference model (hasRef false) refLogp is bound but never read: any f32 [N] tensor
 * that overlaps no other binding will do.
 */
export function grpoPolicyLoss(
  s: CommandStream,
  t: {
    logp: Tensor;
    oldLogp: Tensor;
    refLogp: Tensor;
    adv: Tensor;
    weight: Tensor;
    coef: Tensor;
    stats: Tensor;
  },
  N: number,
  o: PolicyLossOptions,
): void {
  if (!Number.isInteger(N) || N < 0) throw new EngineError(`grpoPolicyLoss: row count ${N} must be a non-negative integer`);
  checkPolicyLossOptions(o);
  if (!o.hasRef && o.klCoef > 0) throw new EngineError('grpoPolicyLoss: klCoef > 0 needs reference log-probs (hasRef)');
  requireTensor(K, t.logp, N, 'logp', 'f32', `[${N}]`);
  requireTensor(K, t.oldLogp, N, 'oldLogp', 'f32', `[${N}]`);
  requireTensor(K, t.refLogp, o.hasRef ? N : 0, 'refLogp', 'f32', `[${N}]`);
  requireTensor(K, t.adv, N, 'adv', 'f32', `[${N}]`);
  requireTensor(K, t.weight, N, 'weight', 'f32', `[${N}]`);
  requireTensor(K, t.coef, N, 'coef', 'f32', `[${N}]`);
  requireTensor(K, t.stats, 4 * N, 'stats', 'f32', `[${N}, 4]`);
  requireDisjoint(K, { logp: t.logp, oldLogp: t.oldLogp, refLogp: t.refLogp, adv: t.adv, weight: t.weight, coef: t.coef, stats: t.stats });
  s.dispatch({
    label: 'grpo.policy_loss',
    pipeline: s.gpu.pipeline('grpo', code, 'policy_loss', { WG }),
    uniforms: GRPO_PARAMS.values({ n: N, clipLow: o.clipLow, clipHigh: o.clipHigh, clipC: o.clipC, klCoef: o.klCoef, hasRef: o.hasRef ? 1 : 0 }),
    bindings: [t.logp, t.oldLogp, t.refLogp, t.adv, t.weight, t.coef, t.stats],
    workgroups: grid1d(N, WG, s.gpu.limits.maxComputeWorkgroupsPerDimension),
  });
}

/**
 * How the per-token losses of a mini-batch become one number: 'token-mean' averages over every
 * response token of the mini-batch (verl's default, the recipe's setting), so long responses weigh
 * more; 'seq-mean-token-mean' averages within each response first, then over responses (the
 * original GRPO paper), so every response weighs the same.
 */
export type LossAggregation = 'token-mean' | 'seq-mean-token-mean';

/**
 * Per-token loss weights of one micro-batch of N positions; `seqs` lists each sequence's loss
 * positions (a row holds one sequence, or with a shared prompt several). `totals` counts the whole
 * mini-batch, whose micro-batches accumulate into one gradient: its response tokens (token-mean)
 * or its sequences with at least one (seq-mean).
 */
export function lossWeights(N: number, seqs: ArrayLike<number>[], mode: LossAggregation, totals: { tokens: number; seqs: number }): Float32Array {
  const w = new Float32Array(N);
  for (const pos of seqs) {
    if (pos.length === 0) continue;
    const v = mode === 'token-mean' ? 1 / Math.max(1, totals.tokens) : 1 / (Math.max(1, totals.seqs) * pos.length);
    for (let k = 0; k < pos.length; k++) {
      const n = pos[k];
      if (!(Number.isInteger(n) && n >= 0 && n < N)) throw new EngineError(`lossWeights: position ${n} is outside the ${N} positions`);
      w[n] = v;
    }
  }
  return w;
}
