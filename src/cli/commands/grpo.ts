// `thinker grpo`: GRPO with the verifiable reward (recipe §5) from a start model (usually the SFT
// checkpoint), from a run config (a preset or a JSON file). It writes a run folder like `thinker
// sft` does (src/recipe/run-io.ts): checkpoint-<step>/ folders, metrics.jsonl (a row per step and
// per held-out evaluation), rollouts.jsonl (every group's prompt, responses, rewards, advantages and
// per-token ratios) and summary.json. Ctrl-C stops at the next safe point with a checkpoint;
// --resume continues from one. Everything that can be wrong with the config, the data, the
// tokenizer or a checkpoint is found before the GPU is touched.
import type { Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../../engine/errors';
import type { Gpu } from '../../engine/gpu';
import type { QAItem } from '../../data/schema';
import { nodeDirSource, readJson } from '../../io/files';
import { configFromHfJson } from '../../io/hf-config';
import { loadTokenizer, type TextTokenizer } from '../../io/tokenizer';
import type { ModelConfig } from '../../model/config';
import type { Model } from '../../model/model';
import { createNodeGpu } from '../../node/dawn';
import { loadModel } from '../../node/checkpoint';
import { encodePrompt, type EncodedPrompt } from '../../recipe/encode';
import { loadRecipeJsonl } from '../../recipe/curate';
import { SFT_DEFAULTS } from '../../recipe/sft-config';
import { evaluateHeldOut, fingerprint, type HeldOutEval } from '../../recipe/sft';
import { applyGrpoOverrides, grpoConfigFrom, grpoOptions, totalSteps, GRPO_PRESETS, type GrpoConfig } from '../../recipe/grpo-config';
import { GrpoTrainer, runGrpo, type GrpoStepMetrics } from '../../recipe/grpo';
import {
  METRICS_FILE, MetricsLog, RUN_CONFIG_FILE, SUMMARY_FILE, abortOnSignals, checkpointDir, findCheckpoint, pruneCheckpoints,
  readRunState, restoreOptimizer, saveRunCheckpoint, writeJsonAtomic, type CheckpointReason, type RunState,
} from '../../recipe/run-io';
import { loadSftItems, type SynthGenerator } from './sft';
import { intOpt, numOpt } from '../args';

export const ROLLOUTS_FILE = 'rollouts.jsonl';

export interface GrpoCliOptions {
  config?: string;
  model?: string;
  out?: string;
  resume?: string;
  steps?: string;
  lr?: string;
  seed?: string;
  set?: string[];
  printConfig?: boolean;
  json?: boolean;
  quiet?: boolean;
}

export interface GrpoCliDeps {
  /** The device to train on (default: a new Dawn device, destroyed at the end). */
  gpu?: Gpu;
  /** The synth generator (default: src/data/synth generateSynth). */
  generateSynth?: SynthGenerator;
  /** Stops the run like Ctrl-C does. */
  signal?: AbortSignal;
  /** Install SIGINT/SIGTERM handlers (default true). */
  handleSignals?: boolean;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

type EvalSummary = { step: number; format_rate: number; accuracy: number; reward_mean: number };
type StepSummary = Pick<GrpoStepMetrics, 'step' | 'reward_mean' | 'accuracy' | 'format_rate' | 'kl' | 'entropy' | 'response_length'>;

export interface GrpoSummary {
  command: 'grpo';
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
  step: m.step, reward_mean: m.reward_mean, accuracy: m.accuracy, format_rate: m.format_rate, kl: m.kl, entropy: m.entropy, response_length: m.response_length,
});

const stamp = () => new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, '').replace('T', '-');

/** The config of a run: --config (preset or file), else the resumed checkpoint's, then the overrides. */
async function resolveConfig(o: GrpoCliOptions, state: RunState | null, stateWhere: string): Promise<{ cfg: GrpoConfig; where: string }> {
  let cfg: GrpoConfig;
  let where: string;
  if (o.config) {
    if (GRPO_PRESETS[o.config]) {
      cfg = grpoConfigFrom(o.config);
      where = `preset "${o.config}"`;
    } else if (o.config.endsWith('.json') || existsSync(o.config)) {
      if (!existsSync(o.config)) throw new InputError(o.config, 'config file not found');
      let json: unknown;
      try {
        json = JSON.parse(await readFile(o.config, 'utf8'));
      } catch (e) {
        throw new InputError(o.config, `not valid JSON (${(e as Error).message})`);
      }
      cfg = grpoConfigFrom(json, o.config);
      where = o.config;
    } else {
      cfg = grpoConfigFrom(o.config);
      where = o.config;
    }
  } else if (state) {
    cfg = grpoConfigFrom(state.config, stateWhere);
    where = stateWhere;
  } else {
    throw new InputError('--config', `required: a preset (${Object.keys(GRPO_PRESETS).join(', ')}) or a .json file`);
  }
  const sets: string[] = [];
  if (o.steps !== undefined) sets.push(`steps=${intOpt('steps', o.steps, 1)}`);
  if (o.lr !== undefined) sets.push(`lr=${numOpt('lr', o.lr, 0, 1)}`);
  if (o.seed !== undefined) sets.push(`seed=${intOpt('seed', o.seed, 0)}`);
  if (o.model !== undefined) sets.push(`model=${JSON.stringify(o.model)}`);
  cfg = applyGrpoOverrides(cfg, sets, 'option');
  return { cfg: applyGrpoOverrides(cfg, o.set ?? []), where };
}

/** Training and held-out items of the config's data source. */
export async function loadGrpoItems(cfg: GrpoConfig, deps: Pick<GrpoCliDeps, 'generateSynth'> = {}):
  Promise<{ train: QAItem[]; eval: QAItem[]; dropped: number; notes: string[] }> {
  const d = cfg.data;
  if (d.source === 'file') {
    const read = async (file: string, limit: number) => {
      if (!existsSync(file) || !statSync(file).isFile()) throw new InputError(file, 'data file not found');
      const abs = path.resolve(file);
      return loadRecipeJsonl(nodeDirSource(path.dirname(abs)), path.basename(abs), { limit: limit || undefined });
    };
    const train = await read(d.file.path, d.file.limit);
    const held = d.file.evalPath && cfg.eval.items > 0 ? await read(d.file.evalPath, cfg.eval.items) : null;
    const notes = [`${d.file.path}: ${train.items.length} items (${train.report.dropped.length} dropped)`];
    if (held) notes.push(`${d.file.evalPath}: ${held.items.length} held-out items`);
    return { train: train.items, eval: held?.items ?? [], dropped: train.report.dropped.length, notes };
  }
  // Synth and named datasets load exactly as for SFT, so both stages of a run see the same items.
  const sftShaped = {
    ...SFT_DEFAULTS, seed: cfg.seed, eval: { ...SFT_DEFAULTS.eval, items: cfg.eval.items },
    data: { source: d.source, synth: d.synth, dataset: d.dataset, requireReasoning: false },
  };
  const r = await loadSftItems(sftShaped, deps);
  return { ...r, dropped: 0 };
}

/**
 * Encode every prompt once, before any GPU work, and leave out those too long for
 * maxPromptTokens or for the model's context with maxNewTokens after them.
 */
export async function encodeGrpoItems(items: QAItem[], tok: TextTokenizer, model: ModelConfig, c: GrpoConfig, where: string):
  Promise<{ items: QAItem[]; encoded: EncodedPrompt[]; tooLong: number; limit: number }> {
  const ctx = model.text.maxPositionEmbeddings;
  if (c.maxNewTokens >= ctx) throw new InputError(where, `maxNewTokens ${c.maxNewTokens} leaves no room for a prompt in the model's context of ${ctx} tokens`);
  const limit = Math.min(c.maxPromptTokens, ctx - c.maxNewTokens);
  const kept: QAItem[] = [], encoded: EncodedPrompt[] = [];
  let tooLong = 0;
  for (const it of items) {
    const e = await encodePrompt(it, tok, model, { newline: c.prompt.newline });
    if (e.ids.length > limit) { tooLong++; continue; }
    kept.push(it);
    encoded.push(e);
  }
  if (kept.length === 0) {
    throw new InputError('training data', `no usable items: ${items.length === 0 ? 'none given' : `all ${items.length} prompts are longer than ${limit} tokens`} ` +
      `(maxPromptTokens ${c.maxPromptTokens}, context ${ctx} - maxNewTokens ${c.maxNewTokens})`);
  }
  return { items: kept, encoded, tooLong, limit };
}

async function tokenizerFiles(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
    const p = path.join(dir, f);
    if (existsSync(p)) files[f] = await readFile(p, 'utf8');
  }
  return files;
}

const sameShape = (a: ModelConfig, b: ModelConfig) => JSON.stringify({ ...a, text: { ...a.text, eosTokenId: undefined } }) ===
  JSON.stringify({ ...b, text: { ...b.text, eosTokenId: undefined } });

/** The whole command, callable in-process (tests pass their device). */
export async function runGrpoCommand(o: GrpoCliOptions, deps: GrpoCliDeps = {}): Promise<GrpoSummary | GrpoConfig> {
  const log = deps.log ?? ((s: string) => process.stderr.write(s + '\n'));

  // 1. Config, and the checkpoint being resumed.
  const ckpt = o.resume ? await findCheckpoint(o.resume) : null;
  const state = ckpt ? await readRunState(ckpt, 'grpo') : null;
  const { cfg, where } = await resolveConfig(o, state, ckpt ? path.join(ckpt, 'trainer_state.json') : '');
  if (!cfg.model) throw new InputError('--model', 'no start model: pass --model DIR (usually an SFT checkpoint) or set "model" in the config');
  // Absolute, so a resumed run finds its reference from any working directory.
  cfg.model = path.resolve(cfg.model);
  if (o.printConfig) return cfg;
  const out = path.resolve(o.out ?? (ckpt ? path.dirname(ckpt) : path.join('runs', `grpo-${stamp()}`)));
  if (!state && existsSync(path.join(out, RUN_CONFIG_FILE))) throw new InputError(out, 'already holds a run: continue it with --resume, or choose another --out');

  // 2. The start model's shape and tokenizer (the policy continues from the checkpoint when resuming).
  const policyDir = ckpt ?? cfg.model;
  const readCfg = async (dir: string) => {
    if (!existsSync(path.join(dir, 'config.json'))) throw new InputError(dir, 'no config.json: not a model folder');
    return configFromHfJson(await readJson(nodeDirSource(dir), 'config.json', dir), path.join(dir, 'config.json'));
  };
  const modelCfg = await readCfg(policyDir);
  if (policyDir !== cfg.model && cfg.klCoef > 0 && !sameShape(await readCfg(cfg.model), modelCfg)) {
    throw new InputError(cfg.model, `the start model (the KL reference) does not have the shape of the checkpoint ${policyDir}`);
  }
  const tok = await loadTokenizer(nodeDirSource(policyDir), policyDir);
  const tokFiles = await tokenizerFiles(policyDir);

  // 3. Items and their prompts.
  const loaded = await loadGrpoItems(cfg, deps);
  for (const n of loaded.notes) log(n);
  const { items, encoded, tooLong, limit } = await encodeGrpoItems(loaded.train, tok, modelCfg, cfg, where);
  const evalItems = loaded.eval.slice(0, cfg.eval.items);
  const evalPrompts = await Promise.all(evalItems.map((it) => encodePrompt(it, tok, modelCfg, { newline: cfg.prompt.newline })));
  evalPrompts.forEach((p, i) => {
    if (p.ids.length + cfg.eval.maxNewTokens > modelCfg.text.maxPositionEmbeddings) {
      const it = evalItems[i];
      throw new InputError(`${it.dataset_name}[${it.dataset_index}]`, `held-out prompt of ${p.ids.length} tokens + eval.maxNewTokens ${cfg.eval.maxNewTokens} exceeds the model's context of ${modelCfg.text.maxPositionEmbeddings}`);
    }
  });
  const total = totalSteps(cfg, items.length);
  const dataFingerprint = fingerprint(items.map((it) => it.hash || `${it.question}\u0000${it.answer}`));
  if (state) {
    if (state.dataFingerprint !== dataFingerprint) throw new InputError(ckpt!, 'the training items differ from those of the run being resumed: same data config and tokenizer needed');
    if (state.step >= total) throw new InputError(ckpt!, `the run already did ${state.step} of ${total} steps; raise --steps to continue`);
    if (!Number.isInteger(state.position.updates)) throw new InputError(ckpt!, 'trainer_state.json position has no "updates" count');
  }
  log(`${items.length} prompts (${tooLong} over ${limit} tokens left out), ${evalItems.length} held-out; ` +
    `${total} steps of ${cfg.promptsPerStep} prompts x ${cfg.groupSize} responses${state ? `, resuming after step ${state.step}` : ''}; writing ${out}`);

  // 4. The GPU, only now.
  const gpu = deps.gpu ?? await createNodeGpu();
  const ownGpu = !deps.gpu;
  let policy: Model | null = null, ref: Model | null = null, grpo: GrpoTrainer | null = null;
  const controller = new AbortController();
  const onOuter = () => controller.abort(deps.signal?.reason);
  deps.signal?.addEventListener('abort', onOuter);
  if (deps.signal?.aborted) controller.abort();
  const removeSignals = deps.handleSignals === false ? () => {} : abortOnSignals(controller, log);
  const t0 = performance.now();
  const elapsed = () => (state?.elapsedSeconds ?? 0) + (performance.now() - t0) / 1000;
  try {
    policy = (await loadModel(gpu, policyDir)).model;
    ref = cfg.klCoef > 0 ? (await loadModel(gpu, cfg.model)).model : null;
    const g = new GrpoTrainer(policy, ref, tok, grpoOptions(cfg));
    grpo = g;
    const m = policy;
    if (state) {
      await restoreOptimizer(m, ckpt!);
      g.updates = state.position.updates;
    }

    await writeJsonAtomic(path.join(out, RUN_CONFIG_FILE), cfg);
    const metrics = await MetricsLog.open(path.join(out, METRICS_FILE), state ? { resumeStep: state.step } : {});
    const rollouts = cfg.logRollouts ? await MetricsLog.open(path.join(out, ROLLOUTS_FILE), state ? { resumeStep: state.step } : {}) : null;
    let lastCheckpoint = ckpt ?? '';
    let last: GrpoStepMetrics | null = null, first: GrpoStepMetrics | null = null;
    const evals: (HeldOutEval & { step: number })[] = [];

    const evaluate = async (step: number) => {
      if (evalItems.length === 0) return;
      const e = { ...await evaluateHeldOut(m, tok, evalItems, { ...cfg.eval, newline: cfg.prompt.newline, prompts: evalPrompts }), step };
      evals.push(e);
      await metrics.append({
        type: 'eval', step, items: e.items, format_rate: e.formatRate, accuracy: e.accuracy, reward_mean: e.rewardMean,
        finished_rate: e.finishedRate, mean_response_tokens: e.meanResponseTokens, seconds: e.seconds, samples: e.samples,
      });
      log(`eval @ step ${step}: format ${(100 * e.formatRate).toFixed(1)}%  accuracy ${(100 * e.accuracy).toFixed(1)}%  reward ${e.rewardMean.toFixed(3)}  (${e.items} items, ${e.seconds.toFixed(1)} s)`);
    };
    const save = async (step: number, reason: CheckpointReason) => {
      const dir = checkpointDir(out, step);
      await saveRunCheckpoint(dir, m, {
        kind: 'grpo', step, totalSteps: total, epoch: (step * cfg.promptsPerStep) / items.length, seed: cfg.seed,
        position: { updates: g.updates }, dataFingerprint, config: cfg, reason, elapsedSeconds: elapsed(),
        metrics: last ? { ...stepSummary(last) } : undefined,
      }, tokFiles, { optimizer: cfg.checkpoint.optimizer });
      lastCheckpoint = dir;
      await pruneCheckpoints(out, cfg.checkpoint.keep, [dir, ...(ckpt ? [ckpt] : [])]);
      log(`checkpoint (${reason}) -> ${dir}`);
    };

    if (!state && cfg.eval.atStart) await evaluate(0);
    const run = await runGrpo(g, items, encoded, { ...grpoOptions(cfg), steps: total, startStep: state?.step ?? 0, signal: controller.signal }, async (r) => {
      const s = r.metrics;
      first ??= s;
      last = s;
      await metrics.append({ type: 'step', ...s });
      if (rollouts) for (const grp of r.groups) await rollouts.append({ ...grp });
      if (!o.quiet) {
        log(`step ${s.step}/${total}  reward ${s.reward_mean.toFixed(3)}  acc ${s.accuracy.toFixed(3)}  format ${s.format_rate.toFixed(3)}  ` +
          `kl ${s.kl.toExponential(2)}  clip ${s.clip_frac.toFixed(3)}  entropy ${s.entropy.toFixed(3)}  len ${s.response_length.toFixed(1)}  ` +
          `|g| ${s.grad_norm.toFixed(3)}  ${s.tokens_per_s.toFixed(0)} tok/s`);
      }
      if (cfg.eval.every > 0 && s.step % cfg.eval.every === 0 && s.step < total) await evaluate(s.step);
      if (cfg.checkpoint.every > 0 && s.step % cfg.checkpoint.every === 0 && s.step < total) await save(s.step, 'periodic');
    });
    if (!run.stopped && evals[evals.length - 1]?.step !== run.stepsDone) await evaluate(run.stepsDone);
    await save(run.stepsDone, run.stopped ? 'interrupted' : 'final');

    const ev = (e: HeldOutEval & { step: number } | undefined): EvalSummary | null =>
      e ? { step: e.step, format_rate: e.formatRate, accuracy: e.accuracy, reward_mean: e.rewardMean } : null;
    const f = first as GrpoStepMetrics | null, l = last as GrpoStepMetrics | null;
    const summary: GrpoSummary = {
      command: 'grpo', stopped: run.stopped, out, checkpoint: lastCheckpoint, resumedFrom: ckpt, startModel: cfg.model,
      step: run.stepsDone, totalSteps: total, items: items.length, evalItems: evalItems.length, itemsDropped: loaded.dropped, promptsTooLong: tooLong,
      firstStep: f && stepSummary(f), lastStep: l && stepSummary(l),
      initialEval: ev(evals[0]), finalEval: ev(evals[evals.length - 1]),
      elapsedSeconds: elapsed(), adapter: gpu.info.description || gpu.info.vendor,
    };
    await writeJsonAtomic(path.join(out, SUMMARY_FILE), summary);
    return summary;
  } finally {
    removeSignals();
    deps.signal?.removeEventListener('abort', onOuter);
    grpo?.release();
    policy?.release();
    ref?.release();
    if (ownGpu) gpu.destroy();
  }
}

export function registerGrpo(program: Command) {
  program.command('grpo')
    .description('GRPO with the verifiable reward (recipe §5) from a start model, usually the SFT checkpoint; writes checkpoints, metrics.jsonl, rollouts.jsonl, summary.json')
    .option('--config <name|file>', `a preset (${Object.keys(GRPO_PRESETS).join(', ')}) or a JSON config file ("extends": a preset, then overrides)`)
    .option('--model <dir>', 'start model folder with tokenizer.json (config "model"); also the frozen KL reference')
    .option('--out <dir>', 'run folder (default: runs/grpo-<time>, or the resumed run\'s folder)')
    .option('--resume <dir>', 'continue from a checkpoint-<step> folder, or the newest one in a run folder')
    .option('--steps <n>', 'steps in all (config steps)')
    .option('--lr <x>', 'learning rate (config lr)')
    .option('--seed <n>', 'seed (config seed)')
    .option('--set <key=value>', 'override any config key, e.g. --set groupSize=4 --set data.synth.level=2 (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--print-config', 'print the resolved config as JSON and exit')
    .option('--json', 'print the summary as JSON on stdout at the end')
    .option('--quiet', 'no per-step lines')
    .addHelpText('after', `\nPresets:\n${Object.entries(GRPO_PRESETS).map(([k, v]) => `  ${k}: ${v.describe}`).join('\n')}\n`)
    .action(async (o: GrpoCliOptions) => {
      const res = await runGrpoCommand(o);
      if (o.printConfig) {
        process.stdout.write(JSON.stringify(res, null, 2) + '\n');
        return;
      }
      const s = res as GrpoSummary;
      if (o.json) process.stdout.write(JSON.stringify(s) + '\n');
      if (s.stopped) throw new Error(`interrupted at step ${s.step}/${s.totalSteps}; checkpoint saved in ${s.checkpoint}; continue with: thinker grpo --resume ${s.checkpoint}`);
      const ev = s.initialEval && s.finalEval
        ? `; held-out accuracy ${(100 * s.initialEval.accuracy).toFixed(1)}% -> ${(100 * s.finalEval.accuracy).toFixed(1)}%, format ${(100 * s.initialEval.format_rate).toFixed(1)}% -> ${(100 * s.finalEval.format_rate).toFixed(1)}%`
        : '';
      process.stderr.write(`done: ${s.step} steps, reward ${s.firstStep?.reward_mean.toFixed(3)} -> ${s.lastStep?.reward_mean.toFixed(3)}${ev}; model in ${s.checkpoint}\n`);
    });
}
