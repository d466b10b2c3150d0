// Supervised fine-tuning on reasoning traces (recipe §4): the loss is taken on the assistant turn
// only, `<think> {reasoning} </think>\n<answer> {letter} </answer><|im_end|>`, with AdamW under a
// cosine schedule with linear warmup, gradient accumulation over micro-batches, and a periodic
// held-out evaluation that decodes greedily and scores answers with the training reward's format
// gate and the paper's grader. Runs the same in the engine worker and in Node: files are the
// caller's business, through the onCheckpoint hook (src/recipe/run-io.ts in Node).
import { DivergedError, InputError } from '../engine/errors';
import type { Gpu } from '../engine/gpu';
import type { QAItem } from '../task/schema';
import type { TextTokenizer } from '../io/tokenizer';
import type { ModelConfig } from '../model/config';
import type { Model } from '../model/model';
import { Trainer } from '../model/trainer';
import { cosineWithWarmup } from '../model/schedule';
import { seededRandom } from '../util/random';
import { traceConclusion } from '../data/synth/template';
import { encodePrompt, encodeSftExample, type EncodedExample, type EncodedPrompt, type PatchCache } from '../task/encode';
import { countTargets, fitExamples, microBatches, type BatchingOptions, type FitReport } from './batching';
import { warmupSteps, type SftConfig } from './sft-config';
import { evaluateHeldOut, fingerprint, type HeldOutEval } from './held-out';

// ---------------------------------------------------------------------------------------------
// Data preparation: everything that can fail on bad input happens here, before any GPU work.

export interface SftDataReport {
  /** Training items given. */
  items: number;
  /** Left out for having no reasoning trace (data.requireReasoning). */
  withoutReasoning: number;
  /** The length limit's effect, indices into the items that had a trace. */
  fit: FitReport;
  /** Training examples kept. */
  examples: number;
  /** Tokens per kept example. */
  meanTokens: number;
  maxTokens: number;
  /** Answer tokens (carrying loss) over all kept examples, and in the longest answer. */
  targetTokens: number;
  maxTargetTokens: number;
  evalItems: number;
}

export interface PreparedSft {
  train: EncodedExample[];
  /** The item each training example came from. */
  trainItems: QAItem[];
  eval: QAItem[];
  evalPrompts: EncodedPrompt[];
  /** Held-out items with a trace, as SFT examples: the held-out loss. */
  evalExamples: EncodedExample[];
  batching: BatchingOptions;
  report: SftDataReport;
  /** Identifies the training items and their order; a resume must see the same. */
  fingerprint: string;
}

const itemId = (it: QAItem) => it.hash || `${it.question}\u0000${it.answer}`;

/** The pad id: a token that is neither an image placeholder nor out of the vocabulary. */
function padIdFor(tok: TextTokenizer, cfg: ModelConfig): number {
  const candidates = [tok.padId, tok.tokenToId('<|endoftext|>'), ...tok.eosIds, 0];
  return candidates.find((id) => id !== undefined && id < cfg.text.vocabSize && id !== cfg.imageTokenId) ?? 0;
}

/**
 * Encode the training and held-out items for `model`: drop traceless items (when required), apply
 * the length limit, and check that every held-out prompt leaves room for the answer. Throws an
 * InputError when no usable training example is left.
 */
export async function prepareSftData(
  data: { train: QAItem[]; eval: QAItem[] },
  tok: TextTokenizer,
  modelCfg: ModelConfig,
  cfg: SftConfig,
): Promise<PreparedSft> {
  const ctx = modelCfg.text.maxPositionEmbeddings;
  if (cfg.maxLength > ctx) throw new InputError('config maxLength', `${cfg.maxLength} exceeds the model's context of ${ctx} tokens`);
  const prompt = { newline: cfg.prompt.newline };
  const cache: PatchCache = new Map();
  const withTrace = cfg.data.requireReasoning ? data.train.filter((it) => (it.reasoning ?? '').trim() !== '') : data.train;
  const target = (it: QAItem): QAItem => (cfg.data.answer === 'trace' ? { ...it, answer_label: traceConclusion(it.reasoning) ?? it.answer_label } : it);
  const encoded = await Promise.all(withTrace.map((it) => encodeSftExample(target(it), tok, modelCfg, prompt, cache)));
  const fit = fitExamples(encoded, { maxLength: cfg.maxLength, overflow: cfg.overflow, imageTokenId: modelCfg.imageTokenId });
  const train = fit.examples;
  const trainItems = fit.report.kept.map((i) => withTrace[i]);
  const withoutReasoning = data.train.length - withTrace.length;
  if (train.length === 0) {
    throw new InputError(
      'training data',
      `no usable items after filtering: ${data.train.length} given, ${withoutReasoning} without a reasoning trace, ` +
        `${fit.report.dropped.length} over maxLength ${cfg.maxLength}${fit.report.dropped[0] ? ` (e.g. ${fit.report.dropped[0].reason})` : ''}`,
    );
  }

  const evalItems = data.eval.slice(0, cfg.eval.items);
  const evalPrompts = await Promise.all(evalItems.map((it) => encodePrompt(it, tok, modelCfg, prompt, cache)));
  evalPrompts.forEach((p, i) => {
    if (p.ids.length + cfg.eval.maxNewTokens > ctx) {
      const it = evalItems[i];
      throw new InputError(
        `${it.dataset_name}[${it.dataset_index}]`,
        `held-out prompt of ${p.ids.length} tokens + eval.maxNewTokens ${cfg.eval.maxNewTokens} exceeds the model's context of ${ctx}`,
      );
    }
  });
  const evalWithTrace = evalItems.filter((it) => (it.reasoning ?? '').trim() !== '');
  const evalEncoded = await Promise.all(evalWithTrace.map((it) => encodeSftExample(it, tok, modelCfg, prompt, cache)));
  const evalExamples = fitExamples(evalEncoded, { maxLength: cfg.maxLength, overflow: 'drop' }).examples;

  const lengths = train.map((e) => e.ids.length);
  let targetTokens = 0,
    maxTargetTokens = 0;
  for (const e of train) {
    let n = 0;
    for (let t = 1; t < e.lossMask.length; t++) n += e.lossMask[t];
    targetTokens += n;
    maxTargetTokens = Math.max(maxTargetTokens, n);
  }
  return {
    train,
    trainItems,
    eval: evalItems,
    evalPrompts,
    evalExamples,
    batching: {
      maxLength: cfg.maxLength,
      overflow: cfg.overflow,
      pad: cfg.pad,
      padMultiple: cfg.padMultiple,
      padId: padIdFor(tok, modelCfg),
      imageTokenId: modelCfg.imageTokenId,
    },
    report: {
      items: data.train.length,
      withoutReasoning,
      fit: fit.report,
      examples: train.length,
      meanTokens: lengths.reduce((a, b) => a + b, 0) / lengths.length,
      maxTokens: Math.max(...lengths),
      targetTokens,
      maxTargetTokens,
      evalItems: evalItems.length,
    },
    fingerprint: fingerprint(trainItems.map(itemId)),
  };
}

// ---------------------------------------------------------------------------------------------
// The plan: which examples each step sees. A pure function of (seed, epoch), so a resumed run
// recomputes exactly the order the stopped one was following.

/** Where the data stream stands: the next example is order(epoch)[index]. */
export interface SftPosition {
  epoch: number;
  index: number;
}

/** The shuffled example order of one epoch (Fisher-Yates, seeded by the run seed and the epoch). */
export function epochOrder(n: number, seed: number, epoch: number): number[] {
  const random = seededRandom((Math.imul(seed, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca77)) >>> 0);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** Examples per optimizer step, steps per epoch (the last step of an epoch may be smaller) and total steps. */
export function sftPlan(nExamples: number, cfg: Pick<SftConfig, 'batchSize' | 'gradAccum' | 'epochs' | 'maxSteps' | 'warmupRatio'>) {
  const perStep = cfg.batchSize * cfg.gradAccum;
  const stepsPerEpoch = Math.ceil(nExamples / perStep);
  const totalSteps = cfg.maxSteps > 0 ? cfg.maxSteps : Math.max(1, Math.ceil(cfg.epochs * stepsPerEpoch));
  return { perStep, stepsPerEpoch, totalSteps, warmup: warmupSteps(cfg, totalSteps) };
}

/** The learning rate of step `step` (0-based). */
export function sftLr(cfg: Pick<SftConfig, 'lr' | 'schedule' | 'minLrRatio'>, step: number, total: number, warmup: number): number {
  if (cfg.schedule === 'constant') return warmup > 0 && step < warmup ? (cfg.lr * (step + 1)) / warmup : cfg.lr;
  return cosineWithWarmup(step, total, cfg.lr, warmup, cfg.minLrRatio);
}

// ---------------------------------------------------------------------------------------------
// The run.

export interface SftStepMetrics {
  step: number;
  /** Epochs done after this step, fractional. */
  epoch: number;
  /** Mean NLL per answer token over the step's micro-batches. */
  loss: number;
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  examples: number;
  /** Answer tokens (carrying loss). */
  targetTokens: number;
  /** Real (non-padding) tokens processed. */
  tokens: number;
  /** Real tokens per second of this step, forward + backward + update. */
  tokensPerSecond: number;
  seconds: number;
}

export interface SftEval extends HeldOutEval {
  step: number;
  epoch: number;
  /** Mean NLL per answer token on held-out items with traces (undefined when none has one). */
  evalLoss?: number;
}

export interface SftCheckpoint {
  step: number;
  totalSteps: number;
  epoch: number;
  position: SftPosition;
  reason: 'periodic' | 'final' | 'interrupted';
  elapsedSeconds: number;
  last?: SftStepMetrics;
}

export interface SftHooks {
  /** Stops the run after the current step (or evaluation), with an 'interrupted' checkpoint. */
  signal?: AbortSignal;
  onStep?(m: SftStepMetrics): void | Promise<void>;
  onEval?(e: SftEval): void | Promise<void>;
  /** What the run does now when it is not a step: a held-out evaluation, the first step (which compiles the kernels). */
  onPhase?(phase: string, step: number): void;
  /** Save a checkpoint: every checkpoint.every steps, at the end, and when stopped. */
  onCheckpoint?(c: SftCheckpoint): void | Promise<void>;
}

export interface SftResume {
  /** Optimizer steps already done. */
  step: number;
  position: SftPosition;
  elapsedSeconds: number;
  /** Restores the AdamW moments once the trainer has allocated them (e.g. run-io restoreOptimizer). */
  restoreOptimizer?: (model: Model) => Promise<boolean>;
}

export interface SftResult {
  stopped: 'completed' | 'interrupted';
  step: number;
  totalSteps: number;
  epoch: number;
  steps: SftStepMetrics[];
  evals: SftEval[];
  elapsedSeconds: number;
  /** Whether AdamW moments came back from the checkpoint (resumed runs). */
  optimizerRestored: boolean;
}

/**
 * Train `model` on the prepared examples. `gpu` must be the model's device. Resuming continues
 * the step count, the learning-rate schedule and the data order from `resume`.
 */
export async function runSft(
  gpu: Gpu,
  model: Model,
  tok: TextTokenizer,
  data: PreparedSft,
  cfg: SftConfig,
  hooks: SftHooks = {},
  resume?: SftResume,
): Promise<SftResult> {
  if (model.gpu !== gpu) throw new Error('runSft: the model lives on another device');
  const n = data.train.length;
  const plan = sftPlan(n, cfg);
  const trainer = new Trainer(
    model,
    { lr: cfg.lr, beta1: cfg.beta1, beta2: cfg.beta2, eps: cfg.eps, weightDecay: cfg.weightDecay, gradClip: cfg.gradClip },
    cfg.activationCheckpointing,
  );
  let step = resume?.step ?? 0;
  let pos: SftPosition = resume ? { ...resume.position } : { epoch: 0, index: 0 };
  if (pos.index > n) throw new InputError('resume', `data position ${pos.index} is beyond the ${n} training examples`);
  const steps: SftStepMetrics[] = [];
  const evals: SftEval[] = [];
  const elapsedBefore = resume?.elapsedSeconds ?? 0;
  const t0 = performance.now();
  const elapsed = () => elapsedBefore + (performance.now() - t0) / 1000;
  const epochNow = () => pos.epoch + pos.index / n;
  const aborted = () => hooks.signal?.aborted === true;
  let optimizerRestored = false;
  let lastEvalStep = -1;
  let order = epochOrder(n, cfg.seed, pos.epoch);

  const evaluate = async () => {
    if (data.eval.length === 0) return;
    lastEvalStep = step;
    hooks.onPhase?.(`evaluating ${data.eval.length} held-out items at step ${step}`, step);
    const r = await evaluateHeldOut(model, tok, data.eval, {
      maxNewTokens: cfg.eval.maxNewTokens,
      batchSize: cfg.eval.batchSize,
      newline: cfg.prompt.newline,
      samples: cfg.eval.samples,
      prompts: data.evalPrompts,
      signal: hooks.signal,
    });
    let evalLoss: number | undefined;
    if (data.evalExamples.length > 0) {
      let nll = 0,
        count = 0;
      for (const b of microBatches(data.evalExamples, cfg.batchSize, data.batching)) {
        const c = countTargets(b);
        nll += (await trainer.evalLoss(b)) * c;
        count += c;
      }
      evalLoss = nll / Math.max(1, count);
    }
    const e: SftEval = { ...r, step, epoch: epochNow(), evalLoss };
    evals.push(e);
    await hooks.onEval?.(e);
  };
  const checkpoint = async (reason: SftCheckpoint['reason']) => {
    await hooks.onCheckpoint?.({
      step,
      totalSteps: plan.totalSteps,
      epoch: epochNow(),
      position: { ...pos },
      reason,
      elapsedSeconds: elapsed(),
      last: steps[steps.length - 1],
    });
  };

  let stopped: SftResult['stopped'] = 'completed';
  try {
    if (resume?.restoreOptimizer) optimizerRestored = await resume.restoreOptimizer(model);
    // Adam's bias correction counts from the first step of the whole run.
    trainer.step = step;
    try {
      if (cfg.eval.atStart && step === 0 && !aborted()) await evaluate();
      if (step < plan.totalSteps) hooks.onPhase?.(`step ${step + 1} (the first compiles the GPU kernels)`, step);
      while (step < plan.totalSteps && !aborted()) {
        if (pos.index >= n) {
          pos = { epoch: pos.epoch + 1, index: 0 };
          order = epochOrder(n, cfg.seed, pos.epoch);
        }
        const take = order.slice(pos.index, pos.index + plan.perStep).map((i) => data.train[i]);
        const lr = sftLr(cfg, step, plan.totalSteps, plan.warmup);
        const ts = performance.now();
        const mbs = microBatches(take, cfg.batchSize, data.batching);
        const r = await trainer.trainStep(mbs, lr);
        const seconds = (performance.now() - ts) / 1000;
        step++;
        pos = { epoch: pos.epoch, index: pos.index + take.length };
        const tokens = take.reduce((a, e) => a + e.ids.length, 0);
        const m: SftStepMetrics = {
          step,
          epoch: epochNow(),
          loss: r.loss,
          lr,
          gradNorm: r.gradNorm,
          examples: take.length,
          targetTokens: r.tokens,
          tokens,
          tokensPerSecond: tokens / Math.max(seconds, 1e-9),
          seconds,
        };
        const diverged = DivergedError.check(step, r.loss, r.gradNorm);
        if (diverged) throw diverged;
        steps.push(m);
        await hooks.onStep?.(m);
        if (cfg.eval.every > 0 && step % cfg.eval.every === 0 && step < plan.totalSteps && !aborted()) await evaluate();
        if (cfg.checkpoint.every > 0 && step % cfg.checkpoint.every === 0 && step < plan.totalSteps && !aborted()) await checkpoint('periodic');
      }
      if (!aborted() && lastEvalStep !== step) await evaluate();
    } catch (e) {
      // An evaluation cut short by the signal is a stop, not a failure.
      if (!aborted()) throw e;
    }
    if (aborted()) stopped = 'interrupted';
    await checkpoint(stopped === 'interrupted' ? 'interrupted' : 'final');
  } finally {
    trainer.release();
  }
  return { stopped, step, totalSteps: plan.totalSteps, epoch: epochNow(), steps, evals, elapsedSeconds: elapsed(), optimizerRestored };
}
