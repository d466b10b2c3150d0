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
import { applyOverrides, checkSftConfig, sftConfigFrom, SFT_PRESETS, type SftConfig } from '../../recipe/sft-config';
import { findResume, type RunState } from '../../recipe/run-io';
import { loadSftItems as loadItems, runSftJob, type SftSummary } from '../../recipe/sft-run';
import type { SynthGenerator } from '../../recipe/job';
import { intOpt, numOpt } from '../args';
import { nodeFolders, nodeRunHost, printEstimate, printKernelTimes } from '../host';
import { estimateRun, type RunEstimate } from '../../recipe/estimate';

import { runOutput } from '../outputs';

export type { SftSummary } from '../../recipe/sft-run';
export type { SynthGenerator } from '../../recipe/job';
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
  /** Time every kernel on the GPU and report GPU time per kernel at the end (`kernels` in the summary). */
  profile?: boolean;
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

/** Training and held-out items of the config's data source, its folders on disk. */
export function loadSftItems(cfg: SftConfig, deps: Pick<SftCliDeps, 'generateSynth'> = {}): Promise<{ train: QAItem[]; eval: QAItem[]; notes: string[] }> {
  return loadItems(cfg, { generateSynth: deps.generateSynth, open: nodeFolders });
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
  return checkSftConfig(
    applyOverrides(cfg, o.set ?? [], '--set', false),
    o.config && SFT_PRESETS[o.config] ? `preset "${o.config}" with its options` : 'config',
  );
}

const stamp = () =>
  new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, '')
    .replace('T', '-');

/** The whole command, callable in-process (tests pass their device and generator). */
export async function runSftCommand(o: SftCliOptions, deps: SftCliDeps = {}): Promise<SftSummary | SftConfig | RunEstimate> {
  const log = deps.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const rp = o.resume ? await findResume(nodeWorkspace(path.resolve(o.resume)), 'sft') : null;
  const cfg = await resolveConfig(o, rp?.state ?? null, rp ? path.join(rp.where, 'trainer_state.json') : '');
  if (o.printConfig) return cfg;
  if (o.estimate) {
    const host = nodeRunHost(deps, log);
    try {
      return await estimateRun({
        kind: 'sft',
        config: cfg,
        open: nodeFolders,
        gpu: host.gpu,
        signal: host.signal,
        generateSynth: deps.generateSynth,
        configWhere: o.config,
      });
    } finally {
      host.done();
    }
  }
  const out = path.resolve(o.out ?? (rp ? path.dirname(rp.where) : path.join('runs', `sft-${stamp()}`)));
  const d = cfg.data;
  const { replace } = await runOutput(out, {
    force: o.force,
    resumeRun: rp ? path.dirname(rp.where) : null,
    reads: [
      { key: 'model.init', ref: cfg.model.init },
      { key: 'model.tokenizer', ref: cfg.model.tokenizer },
      { key: '--resume', ref: rp?.where ?? '' },
      ...(d.source === 'file'
        ? [
            { key: 'data.file.path', ref: d.file.path },
            { key: 'data.file.evalPath', ref: d.file.evalPath },
          ]
        : []),
      ...(d.source === 'dataset' ? [{ key: 'data.dataset.dataDir', ref: d.dataset.dataDir }] : []),
    ],
  });
  const host = nodeRunHost(deps, log, o.profile);
  try {
    const summary = await runSftJob({
      run: nodeWorkspace(out),
      open: nodeFolders,
      gpu: host.gpu,
      signal: host.signal,
      config: cfg,
      resume: rp,
      log,
      quiet: o.quiet,
      generateSynth: deps.generateSynth,
      configWhere: o.config,
      replace,
    });
    const kernels = await host.kernels();
    return kernels ? { ...summary, kernels } : summary;
  } finally {
    host.done();
  }
}

export function registerSft(program: Command) {
  program
    .command('sft')
    .description('supervised fine-tuning on reasoning traces (recipe §4) from a run config; writes checkpoints, metrics.jsonl, summary.json')
    .option('--config <name|file>', `a preset (${Object.keys(SFT_PRESETS).join(', ')}) or a JSON config file ("extends": a preset, then overrides)`)
    .option('--out <dir>', "run folder (default: runs/sft-<time>, or the resumed run's folder)")
    .option('--resume <dir>', 'continue from a checkpoint-<step> folder, or the newest one in a run folder')
    .option('--steps <n>', 'stop after n optimizer steps in all (config maxSteps)')
    .option('--epochs <x>', 'epochs over the training items (config epochs)')
    .option('--lr <x>', 'peak learning rate (config lr)')
    .option('--seed <n>', 'seed (config seed)')
    .option(
      '--set <key=value>',
      'override any config key, e.g. --set eval.every=20 --set data.synth.n=256 (repeatable)',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--force', 'replace the run already in --out (its checkpoints, metrics and records are deleted)')
    .option('--print-config', 'print the resolved config as JSON and exit')
    .option('--estimate', 'time the first steps and an evaluation on this adapter (nothing is written) and print how long the whole run would take')
    .option('--json', 'print the summary as JSON on stdout at the end')
    .option('--quiet', 'no per-step lines')
    .option('--profile', 'time every kernel on the GPU (slows the run) and print GPU time per kernel at the end (`kernels` in --json)')
    .addHelpText(
      'after',
      `\nPresets:\n${Object.entries(SFT_PRESETS)
        .map(([k, v]) => `  ${k}: ${v.describe}`)
        .join('\n')}\n`,
    )
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
      printKernelTimes(s.kernels);
      const ev = s.finalEval ? `; held-out format ${(100 * s.finalEval.format_rate).toFixed(1)}%, accuracy ${(100 * s.finalEval.accuracy).toFixed(1)}%` : '';
      if (s.stopped === 'interrupted') {
        throw new Error(
          `interrupted at step ${s.step}/${s.totalSteps}; checkpoint saved in ${s.checkpoint}; continue with: thinker sft --resume ${s.checkpoint}`,
        );
      }
      process.stderr.write(`done: ${s.step} steps, loss ${s.firstLoss?.toFixed(3)} -> ${s.lastLoss?.toFixed(3)}${ev}; model in ${s.checkpoint}\n`);
    });
}
