// A GRPO run from a resolved config to a run folder: the start model's shape and tokenizer, the
// items and their prompts and every check on them first, then the GPU, runGrpo (src/recipe/grpo.ts)
// with held-out evaluations, checkpoints, metrics.jsonl, rollouts.jsonl, run.json and events. The
// one driver behind `thinker grpo` and the engine worker's startRun/resumeRun; what every driver
// shares (the job, its output, the items of a data source, how the host maps folders) is job.ts.
import type { KernelTime } from '../engine/profile';
import { liveSignalWarning, type SignalRow } from './grpo-signal';
import { loadModelFolder } from '../io/hf-config';
import { DivergedError, InputError } from '../engine/errors';
import type { QAItem } from '../task/schema';
import type { TextTokenizer } from '../io/tokenizer';
import { loadTokenizer } from '../io/tokenizer';
import type { ModelConfig } from '../model/config';
import type { Model } from '../model/model';
import { checkFits } from '../model/memory';
import { encodePrompt, type EncodedPrompt, type PatchCache } from '../task/encode';
import { evaluateHeldOut, fingerprint, type HeldOutEval } from './held-out';
import { grpoOptions, totalSteps, type GrpoConfig } from './grpo-config';
import { GrpoTrainer, runGrpo, type GrpoStepMetrics } from './grpo';
import {
  METRICS_FILE,
  MetricsLog,
  ROLLOUTS_FILE,
  RUN_CONFIG_FILE,
  RunRecord,
  SUMMARY_FILE,
  checkpointName,
  cleanRunFolder,
  clearRun,
  pruneCheckpoints,
  restoreOptimizer,
  saveRunCheckpoint,
  writeJson,
  type CheckpointReason,
  type ResumePoint,
} from './run-io';
import {
  acquireGpu,
  attachLora,
  finishRun,
  jobOutput,
  loadRunItems,
  modelConfigOf,
  runNameOf,
  tokenizerFiles,
  type FolderResolver,
  type RunJob,
  type SynthGenerator,
} from './job';
import { joinWhere } from '../io/files';
import { loraSpecOf } from './lora-config';

/** Training and held-out items of the config's data source. */
export async function loadGrpoItems(
  cfg: GrpoConfig,
  o: { generateSynth?: SynthGenerator; open: FolderResolver },
): Promise<{ train: QAItem[]; eval: QAItem[]; dropped: number; notes: string[] }> {
  // Items load exactly as for SFT, so both stages of a run see the same items.
  return loadRunItems(cfg.data, { evalItems: cfg.eval.items, seed: cfg.seed, ...o });
}

/**
 * Encode every prompt once, before any GPU work, and leave out those too long for
 * maxPromptTokens or for the model's context with maxNewTokens after them.
 */
export async function encodeGrpoItems(
  items: QAItem[],
  tok: TextTokenizer,
  model: ModelConfig,
  c: GrpoConfig,
  where: string,
  cache: PatchCache = new Map(),
): Promise<{ items: QAItem[]; encoded: EncodedPrompt[]; tooLong: number; limit: number }> {
  const ctx = model.text.maxPositionEmbeddings;
  if (c.maxNewTokens >= ctx) throw new InputError(where, `maxNewTokens ${c.maxNewTokens} leaves no room for a prompt in the model's context of ${ctx} tokens`);
  const limit = Math.min(c.maxPromptTokens, ctx - c.maxNewTokens);
  const kept: QAItem[] = [],
    encoded: EncodedPrompt[] = [];
  let tooLong = 0;
  for (const it of items) {
    const e = await encodePrompt(it, tok, model, { newline: c.prompt.newline }, cache);
    if (e.ids.length > limit) {
      tooLong++;
      continue;
    }
    kept.push(it);
    encoded.push(e);
  }
  if (kept.length === 0) {
    throw new InputError(
      'training data',
      `no usable items: ${items.length === 0 ? 'none given' : `all ${items.length} prompts are longer than ${limit} tokens`} ` +
        `(maxPromptTokens ${c.maxPromptTokens}, context ${ctx} - maxNewTokens ${c.maxNewTokens})`,
    );
  }
  return { items: kept, encoded, tooLong, limit };
}

const sameShape = (a: ModelConfig, b: ModelConfig) =>
  JSON.stringify({ ...a, text: { ...a.text, eosTokenId: undefined } }) === JSON.stringify({ ...b, text: { ...b.text, eosTokenId: undefined } });

export interface GrpoJob extends RunJob {
  /** `model` names the start model (resolved through `open`); it is also the frozen KL reference. */
  config: GrpoConfig;
  /** Continue from this checkpoint (findResume in run-io): the policy comes from it. */
  resume?: ResumePoint | null;
}

type EvalSummary = { step: number; format_rate: number; accuracy: number; reward_mean: number };
type StepSummary = Pick<GrpoStepMetrics, 'step' | 'reward_mean' | 'accuracy' | 'format_rate' | 'kl' | 'entropy' | 'response_length'>;

/** summary.json of a GRPO run. */
export interface GrpoSummary {
  command: 'grpo';
  /** GPU time per kernel over the run, when it was profiled (`--profile`). */
  kernels?: KernelTime[];
  stopped: boolean;
  out: string;
  checkpoint: string;
  resumedFrom: string | null;
  startModel: string;
  step: number;
  totalSteps: number;
  items: number;
  evalItems: number;
  itemsDropped: number;
  promptsTooLong: number;
  firstStep: StepSummary | null;
  lastStep: StepSummary | null;
  initialEval: EvalSummary | null;
  finalEval: EvalSummary | null;
  elapsedSeconds: number;
  adapter: string;
}

const stepSummary = (m: GrpoStepMetrics): StepSummary => ({
  step: m.step,
  reward_mean: m.reward_mean,
  accuracy: m.accuracy,
  format_rate: m.format_rate,
  kl: m.kl,
  entropy: m.entropy,
  response_length: m.response_length,
});

/** Run GRPO as described; resolves with the summary when the run completes or is stopped. */
export async function runGrpoJob(job: GrpoJob): Promise<GrpoSummary> {
  const out = jobOutput(job);
  const { say, progress, emit } = out;
  const cfg = job.config;
  const rp = job.resume ?? null;
  const state = rp?.state ?? null;
  const run = job.run;
  const name = job.name ?? runNameOf(run);
  const where = job.configWhere ?? `run ${name} config`;
  if (!cfg.model) throw new InputError('model', 'no start model: name one (usually an SFT checkpoint) in the config\'s "model"');

  // 1. The start model's shape and tokenizer (the policy continues from the checkpoint when resuming).
  const start = { src: job.open(cfg.model, 'model'), where: cfg.model };
  const policyFrom = rp ? { src: rp.from, where: rp.where } : start;
  const modelCfg = await modelConfigOf(policyFrom.src, policyFrom.where);
  if (rp && cfg.klCoef > 0 && !sameShape(await modelConfigOf(start.src, start.where), modelCfg)) {
    throw new InputError(cfg.model, `the start model (the KL reference) does not have the shape of the checkpoint ${rp.where}`);
  }
  const tok = await loadTokenizer(policyFrom.src, policyFrom.where);
  const tokFiles = await tokenizerFiles(policyFrom.src);

  // 2. Items and their prompts.
  progress('loading items', 0, 1);
  const loaded = await loadGrpoItems(cfg, { generateSynth: job.generateSynth, open: job.open });
  progress('loading items', 1, 1);
  for (const n of loaded.notes) say(n);
  progress('encoding prompts', 0, loaded.train.length);
  const cache: PatchCache = new Map();
  const { items, encoded, tooLong, limit } = await encodeGrpoItems(loaded.train, tok, modelCfg, cfg, where, cache);
  progress('encoding prompts', loaded.train.length, loaded.train.length);
  const evalItems = loaded.eval.slice(0, cfg.eval.items);
  const evalPrompts = await Promise.all(evalItems.map((it) => encodePrompt(it, tok, modelCfg, { newline: cfg.prompt.newline }, cache)));
  evalPrompts.forEach((p, i) => {
    if (p.ids.length + cfg.eval.maxNewTokens > modelCfg.text.maxPositionEmbeddings) {
      const it = evalItems[i];
      throw new InputError(
        `${it.dataset_name}[${it.dataset_index}]`,
        `held-out prompt of ${p.ids.length} tokens + eval.maxNewTokens ${cfg.eval.maxNewTokens} exceeds the model's context of ${modelCfg.text.maxPositionEmbeddings}`,
      );
    }
  });
  const total = totalSteps(cfg, items.length);
  const dataFingerprint = fingerprint(items.map((it) => it.hash || `${it.question}\u0000${it.answer}`));
  if (state) {
    if (state.dataFingerprint !== dataFingerprint)
      throw new InputError(rp!.where, 'the training items differ from those of the run being resumed: same data config and tokenizer needed');
    if (state.step >= total) throw new InputError(rp!.where, `the run already did ${state.step} of ${total} steps; raise the steps to continue`);
    if (!Number.isInteger(state.position.updates)) throw new InputError(rp!.where, 'trainer_state.json position has no "updates" count');
  }
  say(
    `${items.length} prompts (${tooLong} over ${limit} tokens left out), ${evalItems.length} held-out; ` +
      `${total} steps of ${cfg.promptsPerStep} prompts x ${cfg.groupSize} responses${state ? `, resuming after step ${state.step}` : ''}; writing ${run.name}`,
  );

  // 3. The run folder and the GPU, only now.
  let record: RunRecord | null = null;
  let policy: Model | null = null,
    ref: Model | null = null,
    grpo: GrpoTrainer | null = null;
  const t0 = performance.now();
  const elapsed = () => (state?.elapsedSeconds ?? 0) + (performance.now() - t0) / 1000;
  let lastCheckpoint = rp?.where ?? '';
  try {
    if (job.replace) await clearRun(run);
    const leftovers = await cleanRunFolder(run);
    if (leftovers.length) say(`removed what an interrupted save left: ${leftovers.join(', ')}`);
    await writeJson(run, RUN_CONFIG_FILE, cfg);
    record = await RunRecord.begin(run, { name, kind: 'grpo', step: state?.step ?? 0, totalSteps: total, config: cfg });
    const rec = record;
    const metrics = await MetricsLog.open(run, METRICS_FILE, state ? { resumeStep: state.step } : {});
    const rollouts = cfg.logRollouts ? await MetricsLog.open(run, ROLLOUTS_FILE, state ? { resumeStep: state.step } : {}) : null;
    progress('starting the GPU and the models', 0, 0);
    const gpu = await acquireGpu(job.gpu);
    // With LoRA the policy is the start model plus adapters (fresh, or a resumed checkpoint's adapter/):
    // its base never trains, and the start model is still the KL reference.
    const lora = loraSpecOf(cfg.lora, 'lora');
    const policyBase = lora ? start : policyFrom;
    // frozenF16 only with LoRA, whose reference is the policy itself (adapters off): step-0 KL is exactly 0.
    const frozenF16 = !!lora && cfg.lora.base === 'f16';
    checkFits(modelCfg, gpu, 'train', policyBase.where, lora, { checkpoint: cfg.activationCheckpointing, f16: frozenF16, headTokens: cfg.maxNewTokens });
    policy = await loadModelFolder(gpu, policyBase.src, policyBase.where, { frozenF16 });
    if (lora) await attachLora(policy, lora, 'lora', rp, cfg.seed, say);
    // With LoRA the reference is the policy with its adapters off: the same start weights, one copy.
    ref = cfg.klCoef > 0 ? (lora ? policy : await loadModelFolder(gpu, start.src, start.where, { frozenF16 })) : null;
    const g = new GrpoTrainer(policy, ref, tok, grpoOptions(cfg, total));
    grpo = g;
    const m = policy;
    if (state) {
      await restoreOptimizer(m, rp!.from);
      g.updates = state.position.updates;
    }

    let last: GrpoStepMetrics | null = null,
      first: GrpoStepMetrics | null = null;
    const evals: (HeldOutEval & { step: number })[] = [];

    const evaluate = async (step: number) => {
      if (evalItems.length === 0) return;
      progress(`evaluating ${evalItems.length} held-out items at step ${step}`, step, total);
      const e = { ...(await evaluateHeldOut(m, tok, evalItems, { ...cfg.eval, newline: cfg.prompt.newline, prompts: evalPrompts })), step };
      evals.push(e);
      await metrics.append({
        type: 'eval',
        step,
        items: e.items,
        format_rate: e.formatRate,
        accuracy: e.accuracy,
        reward_mean: e.rewardMean,
        finished_rate: e.finishedRate,
        mean_response_tokens: e.meanResponseTokens,
        seconds: e.seconds,
        samples: e.samples,
      });
      emit({
        type: 'eval',
        step,
        items: e.items,
        formatRate: e.formatRate,
        accuracy: e.accuracy,
        rewardMean: e.rewardMean,
        finishedRate: e.finishedRate,
        meanResponseTokens: e.meanResponseTokens,
        seconds: e.seconds,
      });
      say(
        `eval @ step ${step}: format ${(100 * e.formatRate).toFixed(1)}%  accuracy ${(100 * e.accuracy).toFixed(1)}%  reward ${e.rewardMean.toFixed(3)}  (${e.items} items, ${e.seconds.toFixed(1)} s)`,
      );
    };
    const save = async (step: number, reason: CheckpointReason) => {
      const dir = checkpointName(step);
      await saveRunCheckpoint(
        run,
        dir,
        m,
        {
          kind: 'grpo',
          step,
          totalSteps: total,
          epoch: (step * cfg.promptsPerStep) / items.length,
          seed: cfg.seed,
          position: { updates: g.updates },
          dataFingerprint,
          config: cfg,
          reason,
          elapsedSeconds: elapsed(),
          metrics: last ? { ...stepSummary(last) } : undefined,
        },
        tokFiles,
        { optimizer: cfg.checkpoint.optimizer, baseModel: cfg.model },
      );
      lastCheckpoint = joinWhere(run.name, dir);
      // The checkpoint resumed from counts among the kept: it was read in full before the first step.
      await pruneCheckpoints(run, cfg.checkpoint.keep, [step]);
      await rec.checkpointsChanged();
      emit({ type: 'checkpoint', step, reason });
      say(`checkpoint (${reason}) -> ${lastCheckpoint}`);
    };

    if (!state && cfg.eval.atStart) await evaluate(0);
    const from = state?.step ?? 0;
    if (from < total) progress(`step ${from + 1}: ${cfg.promptsPerStep} x ${cfg.groupSize} responses (the first step compiles the GPU kernels)`, from, total);
    const stepRows: SignalRow[] = [];
    let lastWarning: string | null = null;
    const res = await runGrpo(g, items, encoded, { ...grpoOptions(cfg, total), steps: total, startStep: state?.step ?? 0, signal: job.signal }, async (r) => {
      const s = r.metrics;
      first ??= s;
      last = s;
      await metrics.append({ type: 'step', ...s });
      // The Train page's warnings, printed once each as they first appear.
      stepRows.push({ type: 'step', ...s });
      const w = liveSignalWarning(stepRows, cfg.promptsPerStep);
      if (w && w.title !== lastWarning) say(`warning: ${w.title} ${w.advice}`);
      lastWarning = w?.title ?? null;
      if (rollouts) for (const grp of r.groups) await rollouts.append(grp);
      await rec.update({ step: s.step });
      emit({ type: 'grpo-step', metrics: s, groups: r.groups, totalSteps: total });
      if (!job.quiet) {
        out.log(
          `step ${s.step}/${total}  reward ${s.reward_mean.toFixed(3)}  acc ${s.accuracy.toFixed(3)}  format ${s.format_rate.toFixed(3)}  ` +
            `kl ${s.kl.toExponential(2)}  clip ${s.clip_frac.toFixed(3)}  entropy ${s.entropy.toFixed(3)}  len ${s.response_length.toFixed(1)}  ` +
            `|g| ${s.grad_norm.toFixed(3)}  ${s.tokens_per_s.toFixed(0)} tok/s`,
        );
      }
      if (cfg.eval.every > 0 && s.step % cfg.eval.every === 0 && s.step < total) await evaluate(s.step);
      if (cfg.checkpoint.every > 0 && s.step % cfg.checkpoint.every === 0 && s.step < total) await save(s.step, 'periodic');
    });
    if (!res.stopped && evals[evals.length - 1]?.step !== res.stepsDone) await evaluate(res.stepsDone);
    await save(res.stepsDone, res.stopped ? 'interrupted' : 'final');

    const ev = (e: (HeldOutEval & { step: number }) | undefined): EvalSummary | null =>
      e ? { step: e.step, format_rate: e.formatRate, accuracy: e.accuracy, reward_mean: e.rewardMean } : null;
    const f = first as GrpoStepMetrics | null,
      l = last as GrpoStepMetrics | null;
    const summary: GrpoSummary = {
      command: 'grpo',
      stopped: res.stopped,
      out: run.name,
      checkpoint: lastCheckpoint,
      resumedFrom: rp?.where ?? null,
      startModel: cfg.model,
      step: res.stepsDone,
      totalSteps: total,
      items: items.length,
      evalItems: evalItems.length,
      itemsDropped: loaded.dropped,
      promptsTooLong: tooLong,
      firstStep: f && stepSummary(f),
      lastStep: l && stepSummary(l),
      initialEval: ev(evals[0]),
      finalEval: ev(evals[evals.length - 1]),
      elapsedSeconds: elapsed(),
      adapter: gpu.info.description || gpu.info.vendor,
    };
    await writeJson(run, SUMMARY_FILE, summary);
    await finishRun(rec, out, { stopped: res.stopped, stopStatus: job.stopStatus });
    return summary;
  } catch (e) {
    const err = e instanceof DivergedError ? e.withCheckpoint(lastCheckpoint || null) : e;
    await finishRun(record, out, { error: err });
    throw err;
  } finally {
    grpo?.release();
    policy?.release();
    if (ref !== policy) ref?.release();
  }
}
