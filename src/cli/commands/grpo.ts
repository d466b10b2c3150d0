// `thinker grpo`: GRPO with the verifiable reward (recipe §5) from a start model (usually the SFT
// checkpoint), from a run config (a preset or a JSON file). It writes a run folder like `thinker
// sft` does (src/recipe/run-io.ts): checkpoint-<step>/ folders, metrics.jsonl (a row per step and
// per held-out evaluation), rollouts.jsonl (every group's prompt, responses, rewards, advantages and
// per-token ratios), run.json and summary.json. The run itself is src/recipe/grpo-run.ts, the same
// driver the engine worker runs; this file resolves the options, maps paths to folders, turns
// Ctrl-C into a stop and prints. Everything that can be wrong with the config, the data, the
// tokenizer or a checkpoint is found before the GPU is touched.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../../engine/errors';
import type { Gpu } from '../../engine/gpu';
import type { QAItem } from '../../task/schema';
import { nodeWorkspace } from '../../io/workspace';
import { applyGrpoOverrides, checkGrpoConfig, grpoConfigFrom, GRPO_PRESETS, type GrpoConfig } from '../../recipe/grpo-config';
import { findResume, type RunState } from '../../recipe/run-io';
import { loadGrpoItems as loadItems, runGrpoJob, type GrpoSummary } from '../../recipe/grpo-run';
import { nodeFolders, nodeRunHost, printEstimate, printKernelTimes } from '../host';
import type { SynthGenerator } from '../../recipe/job';
import { estimateRun, type RunEstimate } from '../../recipe/estimate';
import { intOpt, numOpt } from '../args';
import { runOutput } from '../outputs';

export { ROLLOUTS_FILE } from '../../recipe/run-io';
export { encodeGrpoItems } from '../../recipe/grpo-run';
export type { GrpoSummary } from '../../recipe/grpo-run';

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
  estimate?: boolean;
  json?: boolean;
  quiet?: boolean;
  /** Time every kernel on the GPU and report GPU time per kernel at the end (`kernels` in the summary). */
  profile?: boolean;
  force?: boolean;
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

const stamp = () =>
  new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, '')
    .replace('T', '-');

/** The config of a run: --config (preset or file), else the resumed checkpoint's, then the overrides. */
async function resolveConfig(o: GrpoCliOptions, state: RunState | null, stateWhere: string): Promise<{ cfg: GrpoConfig; where: string }> {
  let cfg: GrpoConfig;
  let where: string;
  if (o.config) {
    if (GRPO_PRESETS[o.config]) {
      // Checked across fields once the overrides are in (a preset may leave data.dataset.dataDir to them).
      cfg = structuredClone(GRPO_PRESETS[o.config].config);
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
  cfg = applyGrpoOverrides(cfg, sets, 'option', false);
  return { cfg: checkGrpoConfig(applyGrpoOverrides(cfg, o.set ?? [], '--set', false), where), where };
}

/** Training and held-out items of the config's data source, its paths on disk. */
export function loadGrpoItems(
  cfg: GrpoConfig,
  deps: Pick<GrpoCliDeps, 'generateSynth'> = {},
): Promise<{ train: QAItem[]; eval: QAItem[]; dropped: number; notes: string[] }> {
  return loadItems(cfg, { generateSynth: deps.generateSynth, open: nodeFolders });
}

/** The whole command, callable in-process (tests pass their device). */
export async function runGrpoCommand(o: GrpoCliOptions, deps: GrpoCliDeps = {}): Promise<GrpoSummary | GrpoConfig | RunEstimate> {
  const log = deps.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const rp = o.resume ? await findResume(nodeWorkspace(path.resolve(o.resume)), 'grpo') : null;
  const { cfg, where } = await resolveConfig(o, rp?.state ?? null, rp ? path.join(rp.where, 'trainer_state.json') : '');
  if (!cfg.model) throw new InputError('--model', 'no start model: pass --model DIR (usually an SFT checkpoint) or set "model" in the config');
  // Absolute, so a resumed run finds its reference from any working directory.
  cfg.model = path.resolve(cfg.model);
  if (o.printConfig) return cfg;
  if (o.estimate) {
    const host = nodeRunHost(deps, log);
    try {
      return await estimateRun({
        kind: 'grpo',
        config: cfg,
        open: nodeFolders,
        gpu: host.gpu,
        signal: host.signal,
        generateSynth: deps.generateSynth,
        configWhere: where,
      });
    } finally {
      host.done();
    }
  }
  const out = path.resolve(o.out ?? (rp ? path.dirname(rp.where) : path.join('runs', `grpo-${stamp()}`)));
  const d = cfg.data;
  const { replace } = await runOutput(out, {
    force: o.force,
    resumeRun: rp ? path.dirname(rp.where) : null,
    reads: [
      { key: 'model', ref: cfg.model },
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
    const summary = await runGrpoJob({
      run: nodeWorkspace(out),
      open: nodeFolders,
      gpu: host.gpu,
      signal: host.signal,
      config: cfg,
      resume: rp,
      log,
      quiet: o.quiet,
      generateSynth: deps.generateSynth,
      configWhere: where,
      replace,
    });
    const kernels = await host.kernels();
    return kernels ? { ...summary, kernels } : summary;
  } finally {
    host.done();
  }
}

export function registerGrpo(program: Command) {
  program
    .command('grpo')
    .description(
      'GRPO with the verifiable reward (recipe §5) from a start model, usually the SFT checkpoint; writes checkpoints, metrics.jsonl, rollouts.jsonl, summary.json',
    )
    .option('--config <name|file>', `a preset (${Object.keys(GRPO_PRESETS).join(', ')}) or a JSON config file ("extends": a preset, then overrides)`)
    .option('--model <dir>', 'start model folder with tokenizer.json (config "model"); also the frozen KL reference')
    .option('--out <dir>', "run folder (default: runs/grpo-<time>, or the resumed run's folder)")
    .option('--resume <dir>', 'continue from a checkpoint-<step> folder, or the newest one in a run folder')
    .option('--steps <n>', 'steps in all (config steps)')
    .option('--lr <x>', 'learning rate (config lr)')
    .option('--seed <n>', 'seed (config seed)')
    .option(
      '--set <key=value>',
      'override any config key, e.g. --set groupSize=4 --set data.synth.level=2 (repeatable)',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--force', 'replace the run already in --out (its checkpoints, metrics and rollouts are deleted)')
    .option('--print-config', 'print the resolved config as JSON and exit')
    .option('--estimate', 'time one step and an evaluation on this adapter (nothing is written) and print how long the whole run would take')
    .option('--json', 'print the summary as JSON on stdout at the end')
    .option('--quiet', 'no per-step lines')
    .option('--profile', 'time every kernel on the GPU (slows the run) and print GPU time per kernel at the end (`kernels` in --json)')
    .addHelpText(
      'after',
      `\nPresets:\n${Object.entries(GRPO_PRESETS)
        .map(([k, v]) => `  ${k}: ${v.describe}`)
        .join('\n')}\n`,
    )
    .action(async (o: GrpoCliOptions) => {
      const res = await runGrpoCommand(o);
      if (o.printConfig) {
        process.stdout.write(JSON.stringify(res, null, 2) + '\n');
        return;
      }
      if (o.estimate) {
        printEstimate(res as RunEstimate, !!o.json);
        return;
      }
      const s = res as GrpoSummary;
      if (o.json) process.stdout.write(JSON.stringify(s) + '\n');
      printKernelTimes(s.kernels);
      if (s.stopped)
        throw new Error(
          `interrupted at step ${s.step}/${s.totalSteps}; checkpoint saved in ${s.checkpoint}; continue with: thinker grpo --resume ${s.checkpoint}`,
        );
      const ev =
        s.initialEval && s.finalEval
          ? `; held-out accuracy ${(100 * s.initialEval.accuracy).toFixed(1)}% -> ${(100 * s.finalEval.accuracy).toFixed(1)}%, format ${(100 * s.initialEval.format_rate).toFixed(1)}% -> ${(100 * s.finalEval.format_rate).toFixed(1)}%`
          : '';
      process.stderr.write(
        `done: ${s.step} steps, reward ${s.firstStep?.reward_mean.toFixed(3)} -> ${s.lastStep?.reward_mean.toFixed(3)}${ev}; model in ${s.checkpoint}\n`,
      );
    });
}
