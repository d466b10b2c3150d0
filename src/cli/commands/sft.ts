// `thinker sft`: supervised fine-tuning on reasoning traces from a run config (a preset or a JSON
// file), writing a run folder (see src/recipe/run-io.ts): checkpoints as Hugging Face folders with
// the tokenizer, metrics.jsonl, run.json, summary.json. The run itself is src/recipe/sft-run.ts,
// the same driver the engine worker runs; this file resolves the options, maps config paths to
// folders, turns Ctrl-C into a stop and prints. Everything that can be wrong with the config, the
// data, the tokenizer or a checkpoint is found before the GPU is touched.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../../engine/errors';
import type { Gpu } from '../../engine/gpu';
import type { QAItem } from '../../task/schema';
import { nodeWorkspace } from '../../io/workspace';
import { createNodeGpu } from '../../node/dawn';
import { applyOverrides, checkSftConfig, sftConfigFrom, SFT_PRESETS, type SftConfig } from '../../recipe/sft-config';
import { findResume, type RunState } from '../../recipe/run-io';
import {
  loadSftItems as loadItems, runSftJob, type FolderResolver, type SftSummary, type SynthGenerator,
} from '../../recipe/sft-run';
import { intOpt, numOpt } from '../args';
import { estimateRun, type RunEstimate } from '../../recipe/estimate';

/** An estimate as a person reads it (stderr), or as JSON (stdout). */
export function printEstimate(e: RunEstimate, json: boolean) {
  if (json) process.stdout.write(JSON.stringify(e) + '\n');
  process.stderr.write(`estimated ${formatDuration(e.totalSeconds)} on this adapter: ${e.totalSteps} steps of ${e.secondsPerStep.toFixed(2)} s` +
    `${e.evals ? `, ${e.evals} evaluations of ${e.secondsPerEval.toFixed(1)} s` : ''}, ${e.setupSeconds.toFixed(0)} s to prepare ` +
    `(measured over ${e.measuredSteps} step${e.measuredSteps === 1 ? '' : 's'} in ${e.measureSeconds.toFixed(0)} s)\n`);
}

export function formatDuration(s: number): string {
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
import { runOutput } from '../outputs';

export type { SftSummary, SynthGenerator } from '../../recipe/sft-run';
export { tokenizerCorpus, scratchModelConfig } from '../../recipe/sft-run';

export interface SftCliOptions {
  config?: string;
  out?: string;
  resume?: string;
  steps?: string;
  epochs?: string;
  lr?: string;
  seed?: string;
  set?: string[];
  printConfig?: boolean;
  /** Measure the first steps and one evaluation on a scratch copy, print the whole run's estimated time, exit. */
  estimate?: boolean;
  json?: boolean;
  quiet?: boolean;
  force?: boolean;
}

export interface SftCliDeps {
  /** The device to train on (default: a new Dawn device, destroyed at the end). */
  gpu?: Gpu;
  /** The synth generator (default: src/data/synth generateSynth; tests pass hand-made items). */
  generateSynth?: SynthGenerator;
  /** Stops the run like Ctrl-C does. */
  signal?: AbortSignal;
  /** Install SIGINT/SIGTERM handlers (default true). */
  handleSignals?: boolean;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

/** Config paths are folders on disk, absolute or relative to the working directory. */
export const nodeFolders: FolderResolver = (ref) => nodeWorkspace(path.resolve(ref));

/** Training and held-out items of the config's data source, its folders on disk. */
export function loadSftItems(cfg: SftConfig, deps: Pick<SftCliDeps, 'generateSynth'> = {}): Promise<{ train: QAItem[]; eval: QAItem[]; notes: string[] }> {
  return loadItems(cfg, { generateSynth: deps.generateSynth, open: nodeFolders });
}

/**
 * Ctrl-C (SIGINT) and SIGTERM abort `controller`, so the run stops after its current step and
 * saves a checkpoint; a second signal exits at once (code 130). Returns a function removing the
 * handlers.
 */
export function abortOnSignals(controller: AbortController, log: (msg: string) => void = (m) => process.stderr.write(m + '\n')): () => void {
  let seen = 0;
  const handler = (sig: NodeJS.Signals) => {
    seen++;
    if (seen === 1) {
      log(`${sig}: stopping after the current step and saving a checkpoint (${sig === 'SIGINT' ? 'Ctrl-C' : 'signal'} again to quit without saving)`);
      controller.abort(new Error(`stopped by ${sig}`));
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/**
 * What the run drivers need from the host: a stop signal fed by the caller's signal and Ctrl-C,
 * and a device made only when asked (after every input is checked) and destroyed at the end
 * unless the caller lent it. `done` undoes both.
 */
export function nodeRunHost(deps: { gpu?: Gpu; signal?: AbortSignal; handleSignals?: boolean }, log: (line: string) => void) {
  const controller = new AbortController();
  const onOuter = () => controller.abort(deps.signal?.reason);
  deps.signal?.addEventListener('abort', onOuter);
  if (deps.signal?.aborted) controller.abort();
  const removeSignals = deps.handleSignals === false ? () => undefined : abortOnSignals(controller, log);
  let own: Gpu | null = null;
  const lent = deps.gpu;
  return {
    signal: controller.signal,
    gpu: async () => lent ?? (own = await createNodeGpu()),
    done: () => {
      removeSignals();
      deps.signal?.removeEventListener('abort', onOuter);
      own?.destroy();
    },
  };
}

/** The config of a run: --config (preset or file), else the resumed checkpoint's, then the overrides. */
async function resolveConfig(o: SftCliOptions, state: RunState | null, stateWhere: string): Promise<SftConfig> {
  let cfg: SftConfig;
  if (o.config) {
    // A preset may leave a field to the command line (vqa-closed's data.dataset.dataDir): its
    // cross-field check runs once the overrides are in, below.
    if (SFT_PRESETS[o.config]) cfg = structuredClone(SFT_PRESETS[o.config].config);
    else if (o.config.endsWith('.json') || existsSync(o.config)) {
      if (!existsSync(o.config)) throw new InputError(o.config, 'config file not found');
      let json: unknown;
      try {
        json = JSON.parse(await readFile(o.config, 'utf8'));
      } catch (e) {
        throw new InputError(o.config, `not valid JSON (${(e as Error).message})`);
      }
      cfg = sftConfigFrom(json, o.config);
    } else cfg = sftConfigFrom(o.config);
  } else if (state) {
    cfg = sftConfigFrom(state.config, stateWhere);
  } else {
    throw new InputError('--config', `required: a preset (${Object.keys(SFT_PRESETS).join(', ')}) or a .json file`);
  }
  const sets: string[] = [];
  if (o.steps !== undefined) sets.push(`maxSteps=${intOpt('steps', o.steps, 1)}`);
  if (o.epochs !== undefined) sets.push(`epochs=${numOpt('epochs', o.epochs, 0)}`);
  if (o.lr !== undefined) sets.push(`lr=${numOpt('lr', o.lr, 0, 1)}`);
  if (o.seed !== undefined) sets.push(`seed=${intOpt('seed', o.seed, 0)}`);
  cfg = applyOverrides(cfg, sets, 'option', false);
  return checkSftConfig(applyOverrides(cfg, o.set ?? [], '--set', false), o.config && SFT_PRESETS[o.config] ? `preset "${o.config}" with its options` : 'config');
}

const stamp = () => new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, '').replace('T', '-');

/** The whole command, callable in-process (tests pass their device and generator). */
export async function runSftCommand(o: SftCliOptions, deps: SftCliDeps = {}): Promise<SftSummary | SftConfig | RunEstimate> {
  const log = deps.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const rp = o.resume ? await findResume(nodeWorkspace(path.resolve(o.resume)), 'sft') : null;
  const cfg = await resolveConfig(o, rp?.state ?? null, rp ? path.join(rp.where, 'trainer_state.json') : '');
  if (o.printConfig) return cfg;
  if (o.estimate) {
    const host = nodeRunHost(deps, log);
    try {
      return await estimateRun({ kind: 'sft', config: cfg, open: nodeFolders, gpu: host.gpu, signal: host.signal, generateSynth: deps.generateSynth, configWhere: o.config });
    } finally {
      host.done();
    }
  }
  const out = path.resolve(o.out ?? (rp ? path.dirname(rp.where) : path.join('runs', `sft-${stamp()}`)));
  const d = cfg.data;
  const { replace } = await runOutput(out, {
    force: o.force, resumeRun: rp ? path.dirname(rp.where) : null,
    reads: [
      { key: 'model.init', ref: cfg.model.init }, { key: 'model.tokenizer', ref: cfg.model.tokenizer }, { key: '--resume', ref: rp?.where ?? '' },
      ...(d.source === 'file' ? [{ key: 'data.file.path', ref: d.file.path }, { key: 'data.file.evalPath', ref: d.file.evalPath }] : []),
      ...(d.source === 'dataset' ? [{ key: 'data.dataset.dataDir', ref: d.dataset.dataDir }] : []),
    ],
  });
  const host = nodeRunHost(deps, log);
  try {
    return await runSftJob({
      run: nodeWorkspace(out), open: nodeFolders, gpu: host.gpu, signal: host.signal, config: cfg, resume: rp,
      log, quiet: o.quiet, generateSynth: deps.generateSynth, configWhere: o.config, replace,
    });
  } finally {
    host.done();
  }
}

export function registerSft(program: Command) {
  program.command('sft')
    .description('supervised fine-tuning on reasoning traces (recipe §4) from a run config; writes checkpoints, metrics.jsonl, summary.json')
    .option('--config <name|file>', `a preset (${Object.keys(SFT_PRESETS).join(', ')}) or a JSON config file ("extends": a preset, then overrides)`)
    .option('--out <dir>', 'run folder (default: runs/sft-<time>, or the resumed run\'s folder)')
    .option('--resume <dir>', 'continue from a checkpoint-<step> folder, or the newest one in a run folder')
    .option('--steps <n>', 'stop after n optimizer steps in all (config maxSteps)')
    .option('--epochs <x>', 'epochs over the training items (config epochs)')
    .option('--lr <x>', 'peak learning rate (config lr)')
    .option('--seed <n>', 'seed (config seed)')
    .option('--set <key=value>', 'override any config key, e.g. --set eval.every=20 --set data.synth.n=256 (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--force', 'replace the run already in --out (its checkpoints, metrics and records are deleted)')
    .option('--print-config', 'print the resolved config as JSON and exit')
    .option('--estimate', 'time the first steps and an evaluation on this adapter (nothing is written) and print how long the whole run would take')
    .option('--json', 'print the summary as JSON on stdout at the end')
    .option('--quiet', 'no per-step lines')
    .addHelpText('after', `\nPresets:\n${Object.entries(SFT_PRESETS).map(([k, v]) => `  ${k}: ${v.describe}`).join('\n')}\n`)
    .action(async (o: SftCliOptions) => {
      const res = await runSftCommand(o);
      if (o.printConfig) {
        process.stdout.write(JSON.stringify(res, null, 2) + '\n');
        return;
      }
      if (o.estimate) {
        printEstimate(res as RunEstimate, !!o.json);
        return;
      }
      const s = res as SftSummary;
      if (o.json) process.stdout.write(JSON.stringify(s) + '\n');
      const ev = s.finalEval ? `; held-out format ${(100 * s.finalEval.format_rate).toFixed(1)}%, accuracy ${(100 * s.finalEval.accuracy).toFixed(1)}%` : '';
      if (s.stopped === 'interrupted') {
        throw new Error(`interrupted at step ${s.step}/${s.totalSteps}; checkpoint saved in ${s.checkpoint}; continue with: thinker sft --resume ${s.checkpoint}`);
      }
      process.stderr.write(`done: ${s.step} steps, loss ${s.firstLoss?.toFixed(3)} -> ${s.lastLoss?.toFixed(3)}${ev}; model in ${s.checkpoint}\n`);
    });
}
