// GRPO with a verifiable reward (recipe §5), one step at a time:
//   1. sample G responses for each of P prompts from the current policy (temperature, top-p,
//      stop at <|im_end|>), keeping each token's log-prob: the "old policy" of the ratio;
//   2. reward each response (src/task/reward.ts) and turn the rewards into group advantages;
//   3. split the responses into `updatesPerStep` mini-batches and, for each, run the policy and the
//      frozen reference model on prompt + response, let the policy-loss kernel write
//      coef = dLoss/dlogp per response token, back-propagate, clip the gradient norm and take one
//      AdamW step.
// The first mini-batch is on-policy (ratio 1 up to float rounding); later ones see a policy that
// has already moved, which is what the clipped ratio is for.
//
// Options a person can switch to compare (each one sentence):
// - advantage.normalizeStd false: Dr. GRPO, advantages are r - mean without the std division.
// - loss.aggregation 'seq-mean-token-mean': each response weighs the same instead of each token.
// - loss.clipHigh > loss.clipLow: DAPO's asymmetric "clip-higher", room for unlikely tokens to grow.
// - advantage.dropEqualGroups: DAPO's dynamic sampling, groups whose rewards are all equal are left out.
// - loss.klCoef 0: no KL penalty and no reference model (DAPO and Dr. GRPO drop it).

import { answerShares } from './grpo-signal';
import { DivergedError, InputError } from '../engine/errors';
import { Arena, download, upload, type Tensor } from '../engine/tensor';
import { grpoPolicyLoss, lossWeights, STAT, type LossAggregation } from '../engine/kernels/grpo';
import type { QAItem } from '../task/schema';
import type { TextTokenizer } from '../io/tokenizer';
import { gradeAnswer } from '../task/grader';
import { Activations } from '../model/activations';
import { uploadBatch, batchShape, type TokenBatch } from '../model/batch';
import { logprobs, textBackward, textForward, zeroGrads } from '../model/forward';
import type { Model } from '../model/model';
import { Trainer, type OptimConfig } from '../model/trainer';
import { seededRandom } from '../util/random';
import { cosineWithWarmup } from '../model/schedule';
import { collate, packSharedPrompts, type PromptGroup } from './batching';
import { GAPS_MIN_HEAD_DIM } from '../engine/kernels/attention';
import { computeAdvantages, type AdvantageOptions } from './advantage';
import { endOfTurnIds, type EncodedExample, type EncodedPrompt } from '../task/encode';
import type { PromptOptions } from '../task/prompt';
import { checkFormat, computeReward } from '../task/reward';
import { sampleResponses } from '../task/rollout';

export interface GrpoLossOptions {
  clipLow: number;
  clipHigh: number;
  /** Dual-clip bound for negative advantages (verl's clip_ratio_c); 0 = off. */
  clipC: number;
  /** k3 KL-to-reference coefficient; 0 = off (no reference model is run). */
  klCoef: number;
  aggregation: LossAggregation;
}

export interface GrpoOptions {
  /** Responses per prompt (G). */
  groupSize: number;
  /** Prompts per step (P). */
  promptsPerStep: number;
  /** Mini-batches, hence optimizer updates, per step (the recipe: 2). */
  updatesPerStep: number;
  /** Sequences per forward/backward pass; a mini-batch's micro-batches accumulate into one update. */
  microBatch: number;
  /** Sequences decoded together during sampling. */
  rolloutBatch: number;
  maxNewTokens: number;
  temperature: number;
  topP: number;
  loss: GrpoLossOptions;
  advantage: AdvantageOptions;
  optim: OptimConfig;
  /** Activation checkpointing of the policy's text blocks (Trainer). */
  checkpoint?: boolean;
  seed: number;
  prompt?: PromptOptions;
  /** Training rows are padded to a multiple of this (fewer activation shapes to allocate). */
  padMultiple?: number;
  /**
   * Train each prompt's responses in one row that holds the prompt once (packSharedPrompts):
   * default on where the attention kernels can mask it (head dim >= 8). Off: a row per response,
   * the prompt repeated. Both give the same loss and gradients.
   */
  sharePrompts?: boolean;
  /** The learning rate by step; absent: `optim.lr` throughout (the recipe's constant rate). */
  schedule?: GrpoSchedule;
}

/**
 * A decaying rate for small models: linear warmup over `warmup` steps, then cosine to
 * `minRatio * optim.lr` at step `total`. All updates of one GRPO step share its rate, and the rate
 * depends on the step alone, so a resumed run continues exactly.
 */
export interface GrpoSchedule {
  kind: 'constant' | 'cosine';
  warmup: number;
  total: number;
  minRatio: number;
}

/** The learning rate of GRPO step `step` (0-based). */
export function grpoLr(o: Pick<GrpoOptions, 'optim' | 'schedule'>, step: number): number {
  const s = o.schedule;
  const lr = o.optim.lr;
  if (!s) return lr;
  if (s.kind === 'constant') return s.warmup > 0 && step < s.warmup ? (lr * (step + 1)) / s.warmup : lr;
  return cosineWithWarmup(step, s.total, lr, s.warmup, s.minRatio);
}

/** One line of metrics.jsonl. */
export interface GrpoStepMetrics {
  /** 1-based: the number of steps done once this one is. */
  step: number;
  reward_mean: number;
  /** Graded correct by the paper's evaluation grader (src/task/grader.ts). */
  accuracy: number;
  /** Responses passing the reward's strict format gate. */
  format_rate: number;
  /** Mean k3 KL to the reference over trained response tokens (0 without a reference). */
  kl: number;
  /** Trained response tokens whose ratio was clipped (and, separately, dual-clipped). */
  clip_frac: number;
  clip_frac_dual: number;
  /** Mean policy entropy over trained response tokens, at update time. */
  entropy: number;
  /** Mean response length in tokens (the end-of-turn token included), and the share cut at maxNewTokens. */
  response_length: number;
  truncated_frac: number;
  adv_mean: number;
  adv_std: number;
  adv_min: number;
  adv_max: number;
  adv_zero_frac: number;
  groups_kept: number;
  groups_dropped: number;
  groups_equal: number;
  /** Answer collapse (grpo-signal.ts answerShares): the most named option and its share of the readable answers, and the most common right answer's share of the prompts. */
  answer_top: string;
  answer_top_share: number;
  gold_top_share: number;
  /** Aggregated loss (policy + KL term) and its policy part, mean over the step's updates. */
  loss: number;
  pg_loss: number;
  /** Gradient norm before clipping, mean over the step's updates. */
  grad_norm: number;
  updates: number;
  lr: number;
  sampled_tokens: number;
  /**
   * Tokens (prompt + response) of the sequences the updates trained on, each sequence counted whole
   * (with sharePrompts a group's prompt runs once, so fewer tokens pass through the kernels).
   */
  trained_tokens: number;
  /** Sampled tokens per second of the whole step (sampling + updates). */
  tokens_per_s: number;
  rollout_tokens_per_s: number;
  train_tokens_per_s: number;
  rollout_s: number;
  update_s: number;
  seconds: number;
}

export interface ResponseRecord {
  text: string;
  /** The response's tokens as text pieces, aligned with `ratios`. */
  tokens: string[];
  reward: number;
  correct: boolean;
  format: boolean;
  advantage: number;
  finished: boolean;
  /** exp(logp - oldLogp) per token when it was trained; null for a dropped group. */
  ratios: number[] | null;
  /** The k3 KL estimate to the reference per token (0 without a reference); null for a dropped group. */
  kl?: number[] | null;
  /** Per token: 0 trained, 1 clipped (no gradient), 2 dual-clipped; null for a dropped group. */
  clip?: number[] | null;
}

/** One line of rollouts.jsonl: a prompt group, for inspection. */
export interface GroupRecord {
  /** 1-based, as in the metrics. */
  step: number;
  item: { dataset: string; index: number; hash: string; answer_label: string };
  prompt: string;
  kept: boolean;
  reward_mean: number;
  reward_std: number;
  responses: ResponseRecord[];
}

export interface GrpoStepResult {
  metrics: GrpoStepMetrics;
  groups: GroupRecord[];
}

/** A response ready for an update: prompt + response tokens, the sampling log-probs, the advantage. */
export interface PolicySequence {
  /** Prompt + response ids, loss mask on the response, the prompt's images. */
  ex: EncodedExample;
  promptLen: number;
  /** log p of each response token when it was sampled (the old policy). */
  old: number[];
  adv: number;
}

/** Per-token results of one sequence in an update, over its response tokens. */
export interface SequenceStats {
  ratios: number[];
  kl: number[];
  /** 0 none, 1 clipped, 2 dual-clipped. */
  clip: number[];
  entropy: number[];
}

/** The sequence of one group's response, and where it goes back in the records. */
interface TrainSeq extends PolicySequence {
  group: number;
  resp: number;
}

/** Whether two sequences start with the same prompt and images (GRPO's G samples of one question). */
function samePrompt(a: PolicySequence, b: PolicySequence): boolean {
  if (a.promptLen !== b.promptLen || a.ex.nImages !== b.ex.nImages || a.ex.patches.length !== b.ex.patches.length) return false;
  for (let t = 0; t < a.promptLen; t++) if (a.ex.ids[t] !== b.ex.ids[t]) return false;
  if (a.ex.patches !== b.ex.patches) for (let k = 0; k < a.ex.patches.length; k++) if (a.ex.patches[k] !== b.ex.patches[k]) return false;
  return true;
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

/** Per-step seeds that differ between steps and runs yet repeat exactly on a resumed run. */
export function stepSeed(seed: number, step: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(step + 1, 0x85ebca77)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  return (h ^ (h >>> 15)) >>> 0;
}

/**
 * The item indices of step `step` (0-based): epochs over a fresh seeded shuffle of all n items,
 * P at a time, a step straddling an epoch boundary taking the rest of one and the start of the
 * next. A pure function of (n, P, seed, step), so a resumed run sees the same prompts.
 */
export function stepItems(n: number, P: number, seed: number, step: number): number[] {
  if (n <= 0) throw new InputError('grpo data', 'no training items');
  const orders = new Map<number, number[]>();
  const order = (epoch: number) => {
    let o = orders.get(epoch);
    if (!o) {
      o = Array.from({ length: n }, (_, i) => i);
      const r = seededRandom(stepSeed(seed, 1_000_000 + epoch));
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [o[i], o[j]] = [o[j], o[i]];
      }
      orders.set(epoch, o);
    }
    return o;
  };
  const out: number[] = [];
  for (let k = 0; k < P; k++) {
    const pos = step * P + k;
    out.push(order(Math.floor(pos / n))[pos % n]);
  }
  return out;
}

/** Split [0, n) into `parts` contiguous runs as even as possible (empty runs when n < parts). */
export function splitEven(n: number, parts: number): [number, number][] {
  const out: [number, number][] = [];
  for (let k = 0; k < parts; k++) out.push([Math.floor((k * n) / parts), Math.floor(((k + 1) * n) / parts)]);
  return out;
}

export function checkGrpoOptions(o: GrpoOptions, where = 'grpo options'): void {
  const int = (k: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) throw new InputError(where, `${k} must be an integer >= ${min}, got ${v}`);
  };
  int('groupSize', o.groupSize, 1);
  int('promptsPerStep', o.promptsPerStep, 1);
  int('updatesPerStep', o.updatesPerStep, 1);
  int('microBatch', o.microBatch, 1);
  int('rolloutBatch', o.rolloutBatch, 1);
  int('maxNewTokens', o.maxNewTokens, 1);
  if (!(o.temperature > 0)) throw new InputError(where, `temperature must be > 0, got ${o.temperature}`);
  if (!(o.topP > 0 && o.topP <= 1)) throw new InputError(where, `topP must be in (0, 1], got ${o.topP}`);
  const l = o.loss;
  if (!(l.clipLow >= 0 && l.clipLow < 1)) throw new InputError(where, `clipLow must be in [0, 1), got ${l.clipLow}`);
  if (!(l.clipHigh >= 0)) throw new InputError(where, `clipHigh must be >= 0, got ${l.clipHigh}`);
  if (!(l.clipC === 0 || l.clipC > 1)) throw new InputError(where, `clipC must be 0 (off) or > 1, got ${l.clipC}`);
  if (!(l.klCoef >= 0)) throw new InputError(where, `klCoef must be >= 0, got ${l.klCoef}`);
}

export class GrpoTrainer {
  readonly trainer: Trainer;
  private refActs: Activations | null = null;
  private bufs: Arena | null = null;
  private readonly eos: number[];
  private readonly padId: number;
  private readonly invTemp: number;

  /**
   * `ref` is the frozen reference (a copy of the start weights); it may be null only when
   * klCoef is 0. The policy gets gradient and AdamW arenas; the reference never does.
   */
  constructor(
    readonly policy: Model,
    readonly ref: Model | null,
    readonly tok: TextTokenizer,
    readonly o: GrpoOptions,
  ) {
    checkGrpoOptions(o);
    if (o.loss.klCoef > 0 && !ref) throw new InputError('grpo', 'klCoef > 0 needs a reference model');
    if (ref && JSON.stringify(ref.cfg) !== JSON.stringify(policy.cfg)) throw new InputError('grpo', "the reference model's config differs from the policy's");
    this.trainer = new Trainer(policy, { ...o.optim }, o.checkpoint ?? false);
    this.eos = endOfTurnIds(tok, policy.cfg);
    if (this.eos.length === 0) throw new InputError('tokenizer', 'no end-of-turn token (<|im_end|> or an eos_token): responses could never end');
    this.padId = tok.padId ?? this.eos[0];
    // verl divides the logits by the rollout temperature in every log-prob pass, so the ratio
    // compares the same distributions that were sampled from.
    this.invTemp = 1 / o.temperature;
  }

  /** Training rows so far that held a shared prompt and its responses (layout). */
  sharedRows = 0;

  /** Optimizer updates taken so far (AdamW's step count). */
  get updates(): number {
    return this.trainer.step;
  }
  set updates(n: number) {
    this.trainer.step = n;
  }

  /** GRPO step `step` (0-based; it seeds the sampling) on these prompts (their encodings in `encoded`, same order). */
  async step(step: number, items: QAItem[], encoded: EncodedPrompt[], signal?: AbortSignal): Promise<GrpoStepResult> {
    const o = this.o;
    const G = o.groupSize;
    const t0 = performance.now();
    const lr = grpoLr(o, step);
    const samples = await sampleResponses(
      this.policy,
      this.tok,
      items,
      {
        n: G,
        temperature: o.temperature,
        topP: o.topP,
        maxNewTokens: o.maxNewTokens,
        batchSize: o.rolloutBatch,
        seed: stepSeed(o.seed, step),
        prompt: o.prompt,
        signal,
      },
      encoded,
    );
    const t1 = performance.now();

    // Rewards: the training reward (§5) drives learning; the evaluation grader's verdict and the
    // format gate are reported beside it.
    const rewards = samples.map((s) => s.responses.map((r) => computeReward(r.text, s.item.options, s.item.answer_label, s.item.answer) as number));
    const { groups: adv, stats: advStats } = computeAdvantages(rewards, o.advantage);
    const records: GroupRecord[] = samples.map((s, g) => ({
      step: step + 1,
      item: { dataset: s.item.dataset_name, index: s.item.dataset_index, hash: s.item.hash, answer_label: s.item.answer_label },
      prompt: this.tok.decode(s.prompt.ids, { skipSpecialTokens: false }),
      kept: adv[g].kept,
      reward_mean: adv[g].mean,
      reward_std: adv[g].std,
      responses: s.responses.map((r, j) => ({
        text: r.text,
        tokens: r.ids.map((id) => this.tok.decode([id], { skipSpecialTokens: false })),
        reward: rewards[g][j],
        correct: gradeAnswer(r.text, s.item.options, s.item.answer_label, s.item.answer).correct,
        format: checkFormat(r.text),
        advantage: adv[g].advantages[j],
        finished: r.finished,
        ratios: null,
        kl: null,
        clip: null,
      })),
    }));

    const seqs: TrainSeq[] = [];
    samples.forEach((s, g) => {
      if (!adv[g].kept) return;
      s.responses.forEach((r, j) => {
        const ids = [...s.prompt.ids, ...r.ids];
        const lossMask = new Uint8Array(ids.length);
        lossMask.fill(1, s.prompt.ids.length);
        seqs.push({
          ex: { ids, lossMask, patches: s.prompt.patches, nImages: s.prompt.nImages },
          promptLen: s.prompt.ids.length,
          old: r.logps,
          adv: adv[g].advantages[j],
          group: g,
          resp: j,
        });
      });
    });

    const acc = { loss: [] as number[], pg: [] as number[], gradNorm: [] as number[], kl: 0, clip: 0, dual: 0, entropy: 0, tokens: 0, trained: 0 };
    for (const [a, b] of splitEven(seqs.length, o.updatesPerStep)) {
      if (b > a) await this.update(seqs.slice(a, b), records, lr, acc);
    }
    const t2 = performance.now();

    const all = records.flatMap((r) => r.responses);
    const sampled = samples.reduce((n, s) => n + s.responses.reduce((m, r) => m + r.ids.length, 0), 0);
    const secs = (t2 - t0) / 1000;
    const metrics: GrpoStepMetrics = {
      step: step + 1,
      reward_mean: mean(all.map((r) => r.reward)),
      accuracy: mean(all.map((r) => (r.correct ? 1 : 0))),
      format_rate: mean(all.map((r) => (r.format ? 1 : 0))),
      kl: acc.tokens ? acc.kl / acc.tokens : 0,
      clip_frac: acc.tokens ? acc.clip / acc.tokens : 0,
      clip_frac_dual: acc.tokens ? acc.dual / acc.tokens : 0,
      entropy: acc.tokens ? acc.entropy / acc.tokens : 0,
      response_length: sampled / Math.max(1, all.length),
      truncated_frac: mean(all.map((r) => (r.finished ? 0 : 1))),
      adv_mean: advStats.mean,
      adv_std: advStats.std,
      adv_min: advStats.min,
      adv_max: advStats.max,
      adv_zero_frac: advStats.zeroFraction,
      groups_kept: advStats.groupsKept,
      groups_dropped: advStats.groupsDropped,
      groups_equal: advStats.groupsEqual,
      ...answerShares(
        samples.map((s) => ({ options: s.item.options, answerLabel: s.item.answer_label, answer: s.item.answer, responses: s.responses.map((r) => r.text) })),
      ),
      loss: mean(acc.loss),
      pg_loss: mean(acc.pg),
      grad_norm: mean(acc.gradNorm),
      updates: acc.loss.length,
      lr,
      sampled_tokens: sampled,
      trained_tokens: acc.trained,
      tokens_per_s: sampled / Math.max(1e-9, secs),
      rollout_tokens_per_s: sampled / Math.max(1e-9, (t1 - t0) / 1000),
      train_tokens_per_s: acc.trained / Math.max(1e-9, (t2 - t1) / 1000),
      rollout_s: (t1 - t0) / 1000,
      update_s: (t2 - t1) / 1000,
      seconds: secs,
    };
    return { metrics, groups: records };
  }

  /** One mini-batch: gradients of its loss, then the clipped AdamW update. */
  private async update(
    mini: TrainSeq[],
    records: GroupRecord[],
    lr: number,
    acc: {
      loss: number[];
      pg: number[];
      gradNorm: number[];
      kl: number;
      clip: number;
      dual: number;
      entropy: number;
      tokens: number;
      trained: number;
    },
  ): Promise<void> {
    const g = await this.gradients(mini);
    mini.forEach((q, i) => {
      const st = g.seqs[i];
      const rec = records[q.group].responses[q.resp];
      // Rounded: rollouts.jsonl keeps every token of every step, and 5 digits is what a person reads.
      rec.ratios = st.ratios.map((r) => Math.round(r * 1e5) / 1e5);
      rec.kl = st.kl.map((k) => Math.round(k * 1e6) / 1e6);
      rec.clip = st.clip.slice();
      for (let j = 0; j < st.kl.length; j++) {
        acc.kl += st.kl[j];
        if (st.clip[j] === 1) acc.clip++;
        if (st.clip[j] === 2) acc.dual++;
        acc.entropy += st.entropy[j];
        acc.tokens++;
      }
      acc.trained += q.ex.ids.length;
    });
    this.trainer.step++;
    this.trainer.applyUpdate(lr);
    // The trainer keeps the norm on the GPU; only its first float is read back, for the metrics.
    const norm = await download(this.policy.gpu, this.trainer.gradNorm.state, 1);
    await this.trainer.stream.sync();
    acc.loss.push(g.loss);
    acc.pg.push(g.pgLoss);
    acc.gradNorm.push(norm[0]);
  }

  /**
   * The GRPO loss of a mini-batch and its gradient, left in the policy's gradient arena (zeroed
   * first; micro-batches of `microBatch` sequences accumulate). The loss is aggregated over the
   * whole mini-batch, so splitting it into micro-batches does not change it.
   */
  async gradients(mini: PolicySequence[]): Promise<{ loss: number; pgLoss: number; seqs: SequenceStats[] }> {
    const o = this.o,
      m = this.policy,
      s = this.trainer.stream,
      gpu = m.gpu;
    const totals = { tokens: mini.reduce((n, q) => n + (q.ex.ids.length - q.promptLen), 0), seqs: mini.length };
    zeroGrads(s, m);
    let loss = 0,
      pgLoss = 0;
    const seqs: SequenceStats[] = [];
    for (let i = 0; i < mini.length; i += o.microBatch) {
      const part = mini.slice(i, i + o.microBatch);
      for (const q of part) {
        if (q.old.length !== q.ex.ids.length - q.promptLen || q.promptLen < 1) {
          throw new InputError('grpo', `a sequence has ${q.old.length} old log-probs for ${q.ex.ids.length - q.promptLen} response tokens`);
        }
      }
      // at[r]: the flat position whose row predicts part[r]'s first response token; token j is
      // predicted at at[r] + j in either layout.
      const { batch: b, at } = this.layout(part);
      const { B, T } = b;
      const N = B * T;
      const old = new Float32Array(N),
        advs = new Float32Array(N);
      const spans = part.map((q, r) => Array.from({ length: q.old.length }, (_, j) => at[r] + j));
      part.forEach((q, r) => {
        q.old.forEach((lp, j) => {
          old[at[r] + j] = lp;
          advs[at[r] + j] = q.adv;
        });
      });
      const weight = lossWeights(N, spans, o.loss.aggregation, totals);

      const acts = this.trainer.activations(b);
      uploadBatch(m, acts, b);
      const bufs = this.buffers(N);
      let refLogp: Tensor = bufs.get('refDummy');
      if (this.ref) {
        const ra = this.referenceActivations(b);
        uploadBatch(this.ref, ra, b);
        // A LoRA policy is its own reference with the adapters off (grpo-run passes the policy).
        this.ref.adaptersOff = this.ref === m;
        try {
          textForward(s, this.ref, ra, { logits: 'loss' });
          logprobs(s, this.ref, ra, this.invTemp);
        } finally {
          this.ref.adaptersOff = false;
        }
        refLogp = ra.get('logp');
      }
      textForward(s, m, acts, { logits: 'loss' });
      logprobs(s, m, acts, this.invTemp);
      upload(gpu, bufs.get('old'), old);
      upload(gpu, bufs.get('adv'), advs);
      upload(gpu, bufs.get('weight'), weight);
      grpoPolicyLoss(
        s,
        {
          logp: acts.get('logp'),
          oldLogp: bufs.get('old'),
          refLogp,
          adv: bufs.get('adv'),
          weight: bufs.get('weight'),
          coef: acts.get('coef'),
          stats: bufs.get('stats'),
        },
        N,
        { clipLow: o.loss.clipLow, clipHigh: o.loss.clipHigh, clipC: o.loss.clipC, klCoef: o.loss.klCoef, hasRef: !!this.ref },
      );
      textBackward(s, m, acts, this.invTemp);
      s.submit();
      const stats = await download(gpu, bufs.get('stats'), 4 * N);
      const entropy = await download(gpu, acts.get('entropy'), N);

      spans.forEach((span) => {
        const st: SequenceStats = { ratios: [], kl: [], clip: [], entropy: [] };
        for (const n of span) {
          const x = stats.subarray(4 * n, 4 * n + 4);
          loss += weight[n] * x[STAT.loss];
          pgLoss += weight[n] * (x[STAT.loss] - o.loss.klCoef * x[STAT.kl]);
          st.ratios.push(x[STAT.ratio]);
          st.kl.push(x[STAT.kl]);
          st.clip.push(x[STAT.clip]);
          st.entropy.push(entropy[n]);
        }
        seqs.push(st);
      });
    }
    return { loss, pgLoss, seqs };
  }

  /**
   * A micro-batch's rows: consecutive sequences of one prompt share a row (packSharedPrompts)
   * where sharePrompts allows, else a row per sequence. `at[r]`: where sequence r's first
   * response token is predicted.
   */
  private layout(part: PolicySequence[]): { batch: TokenBatch; at: number[] } {
    const o = this.o;
    const pad = { padMultiple: o.padMultiple ?? 16, padId: this.padId, imageTokenId: this.policy.cfg.imageTokenId };
    const rows = () => {
      const batch = collate(
        part.map((q) => q.ex),
        { maxLength: this.policy.cfg.text.maxPositionEmbeddings, overflow: 'drop', pad: 'longest', ...pad },
      );
      return { batch, at: part.map((q, r) => r * batch.T + q.promptLen - 1) };
    };
    const share = (o.sharePrompts ?? true) && this.policy.cfg.text.headDim >= GAPS_MIN_HEAD_DIM && part.every((q) => q.promptLen >= 2);
    if (!share) return rows();
    const groups: PromptGroup[] = [];
    let prev: PolicySequence | null = null;
    for (const q of part) {
      if (!prev || !samePrompt(prev, q)) groups.push({ prompt: q.ex.ids.slice(0, q.promptLen), patches: q.ex.patches, nImages: q.ex.nImages, responses: [] });
      groups[groups.length - 1].responses.push(q.ex.ids.slice(q.promptLen));
      prev = q;
    }
    const { batch, starts } = packSharedPrompts(groups, pad);
    // Packing pads every row to the longest group's: with short prompts, long answers and a group
    // split across micro-batches it can hold more positions than a row per response. Take the
    // smaller, so sharing never needs more memory than the estimate counts.
    const longest = Math.max(...part.map((q) => q.ex.ids.length));
    if (batch.B * batch.T > part.length * Math.ceil(longest / Math.max(1, pad.padMultiple)) * pad.padMultiple) return rows();
    this.sharedRows += batch.B;
    return { batch, at: starts.flat() };
  }

  /** Per-token inputs and outputs of the loss kernel for N rows, reallocated only when N grows. */
  private buffers(N: number): Arena {
    if (!this.bufs || this.bufs.get('old').size < N) {
      this.bufs?.release();
      const f = (name: string, n: number) => ({ name, shape: [n], dtype: 'f32' as const });
      this.bufs = new Arena(this.policy.gpu, 'grpo', [f('old', N), f('adv', N), f('weight', N), f('refDummy', N), f('stats', 4 * N)]);
    }
    return this.bufs;
  }

  private referenceActivations(b: TokenBatch): Activations {
    const shape = batchShape(b, false);
    if (!this.refActs?.matches(shape)) {
      this.refActs?.release();
      this.refActs = new Activations(this.ref!.gpu, this.ref!.cfg, shape, this.ref!.lora);
    }
    return this.refActs;
  }

  release(): void {
    this.refActs?.release();
    this.refActs = null;
    this.bufs?.release();
    this.bufs = null;
    this.trainer.release();
  }
}

export interface GrpoRunOptions extends GrpoOptions {
  /** Steps to run in all (a resumed run continues from startStep up to this). */
  steps: number;
  /** First step to run (0-based): the number of steps already done. */
  startStep?: number;
  signal?: AbortSignal;
}

/**
 * Steps startStep..steps-1 over `items` (encoded once by the caller, same order). Stops early,
 * between steps or during sampling (where no weight has changed yet), when `signal` aborts.
 * `onStep` runs after every step, e.g. to write metrics and checkpoints.
 */
export async function runGrpo(
  g: GrpoTrainer,
  items: QAItem[],
  encoded: EncodedPrompt[],
  o: GrpoRunOptions,
  onStep?: (r: GrpoStepResult) => void | Promise<void>,
): Promise<{ results: GrpoStepMetrics[]; stepsDone: number; stopped: boolean }> {
  if (items.length !== encoded.length) throw new InputError('grpo', `${items.length} items but ${encoded.length} encodings`);
  const results: GrpoStepMetrics[] = [];
  let step = o.startStep ?? 0;
  for (; step < o.steps; step++) {
    if (o.signal?.aborted) return { results, stepsDone: step, stopped: true };
    const idx = stepItems(items.length, o.promptsPerStep, o.seed, step);
    let r: GrpoStepResult;
    try {
      r = await g.step(
        step,
        idx.map((i) => items[i]),
        idx.map((i) => encoded[i]),
        o.signal,
      );
    } catch (e) {
      if (o.signal?.aborted) return { results, stepsDone: step, stopped: true };
      throw e;
    }
    const diverged = DivergedError.check(step + 1, r.metrics.loss, r.metrics.grad_norm);
    if (diverged) throw diverged;
    results.push(r.metrics);
    await onStep?.(r);
  }
  return { results, stepsDone: step, stopped: false };
}
