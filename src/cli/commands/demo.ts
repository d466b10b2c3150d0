// `thinker demo vqa-closed`: the lab on real data in one command. A tiny VLM is trained from scratch
// on the closed training questions of VQA-RAD and SLAKE (English) with answer-only SFT (preset
// `vqa-closed`: they have no reasoning traces), optionally followed by GRPO, then scored on each
// closed test split with the paper's prompt and grader beside two baselines: `majority` (always the
// most common training answer) and `blind` (the same model with every image blank). It prints one
// JSON line; the run folders (sft/, grpo/) and demo.json stay in --out.
import type { Command } from 'commander';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../../engine/errors';
import type { Gpu } from '../../engine/gpu';
import type { QAItem } from '../../task/schema';
import { findDataset } from '../../data/loaders';
import { nodeDirSource } from '../../io/workspace';
import { loadTokenizer } from '../../io/tokenizer';
import { loadModel } from '../../node/checkpoint';
import { createNodeGpu } from '../../node/dawn';
import { runEval } from '../../eval/run';
import { constantAnswerAccuracy, majorityAnswer, withBlankImages } from '../../eval/baselines';
import { runSftCommand, type SftSummary } from './sft';
import { runGrpoCommand, type GrpoSummary } from './grpo';
import { intOpt } from '../args';

/** The datasets of the demo: loader name -> key of the printed JSON. */
const BENCHMARKS = [
  { dataset: 'vqa-rad', key: 'vqa_rad' },
  { dataset: 'slake', key: 'slake' },
] as const;

export interface DemoCliOptions {
  dataDir?: string;
  out?: string;
  /** SFT optimizer steps (default: the preset's epochs). */
  steps?: string;
  /** GRPO steps after SFT (default 0: SFT only). */
  grpoSteps?: string;
  seed?: string;
  /** SFT config overrides (key=value). */
  set?: string[];
  /** Score only the first N test items of each benchmark (a quick look; the README's numbers use all). */
  evalLimit?: string;
  force?: boolean;
  json?: boolean;
  quiet?: boolean;
}

export interface DemoScore {
  /** Greedy accuracy of the trained model. */
  accuracy: number;
  /** Always answering the most common answer of this benchmark's training questions. */
  majority: number;
  majority_answer: string;
  /** The trained model with every image replaced by a blank one. */
  blind: number;
  n: number;
}

export interface DemoSummary {
  vqa_rad: DemoScore;
  slake: DemoScore;
  model: string;
  sft: { steps: number; seconds: number; params: number; train_items: number };
  grpo: { steps: number; seconds: number } | null;
  seconds: number;
}

interface DemoDeps {
  gpu?: Gpu;
  handleSignals?: boolean;
  log?: (line: string) => void;
}

async function loadSplit(dataDir: string, dataset: string, split: string): Promise<QAItem[]> {
  const spec = findDataset(dataset)!;
  const dir = existsSync(path.join(dataDir, spec.dir)) ? path.join(dataDir, spec.dir) : dataDir;
  return (await spec.load(nodeDirSource(dir), { split })).items;
}

export async function runDemoCommand(name: string, o: DemoCliOptions, deps: DemoDeps = {}): Promise<DemoSummary> {
  const log = deps.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const t0 = performance.now();
  if (name !== 'vqa-closed') throw new InputError('demo', `unknown demo "${name}" (there is one: vqa-closed)`);
  if (!o.dataDir) throw new InputError('--data-dir', 'required: the folder holding vqa-rad/ and slake/ (e.g. ../shared/data)');
  const dataDir = path.resolve(o.dataDir);
  for (const b of BENCHMARKS) {
    if (!existsSync(path.join(dataDir, findDataset(b.dataset)!.dir)))
      throw new InputError(dataDir, `no ${findDataset(b.dataset)!.dir}/ folder here (the demo needs VQA-RAD and SLAKE)`);
  }
  const out = path.resolve(o.out ?? path.join('runs', 'demo-vqa-closed'));
  if (existsSync(out) && readdirSync(out).length > 0 && !o.force) {
    throw new InputError(out, 'the output folder exists and is not empty; choose another --out, or --force to train again into it');
  }
  const grpoSteps = o.grpoSteps === undefined ? 0 : intOpt('grpo-steps', o.grpoSteps, 0);
  const seed = o.seed === undefined ? undefined : String(intOpt('seed', o.seed, 0));
  const evalLimit = o.evalLimit === undefined ? 0 : intOpt('eval-limit', o.evalLimit, 1);
  // Test items and the majority answer first: a broken data folder fails before any training.
  const tests = (await Promise.all(BENCHMARKS.map((b) => loadSplit(dataDir, b.dataset, 'test')))).map((t) => (evalLimit ? t.slice(0, evalLimit) : t));
  // Each benchmark's majority baseline answers its own most common training answer.
  const trains = await Promise.all(BENCHMARKS.map((b) => loadSplit(dataDir, b.dataset, 'train')));
  const majority = trains.map(majorityAnswer);
  log(
    `demo vqa-closed: ${trains.flat().length} closed training questions (${BENCHMARKS.map((b, i) => `${b.dataset} ${trains[i].length}`).join(' + ')}), ` +
      `test ${tests.map((t, i) => `${BENCHMARKS[i].dataset} ${t.length}`).join(', ')}; most common training answers ${majority.map((m) => `"${m}"`).join(', ')}`,
  );

  await mkdir(out, { recursive: true });
  const lent = deps.gpu;
  const gpu = lent ?? (await createNodeGpu());
  try {
    const runDeps = { gpu, handleSignals: deps.handleSignals, log };
    const t1 = performance.now();
    const sft = (await runSftCommand(
      {
        config: 'vqa-closed',
        out: path.join(out, 'sft'),
        steps: o.steps,
        seed,
        quiet: o.quiet,
        force: o.force,
        set: [`data.dataset.dataDir=${JSON.stringify(dataDir)}`, ...(o.set ?? [])],
      },
      runDeps,
    )) as SftSummary;
    if (sft.stopped !== 'completed') throw new Error(`SFT stopped at step ${sft.step}; its checkpoint is ${sft.checkpoint}`);
    const sftSeconds = (performance.now() - t1) / 1000;
    let model = path.resolve(sft.checkpoint);
    let grpo: DemoSummary['grpo'] = null;
    if (grpoSteps > 0) {
      const t2 = performance.now();
      const g = (await runGrpoCommand(
        {
          config: 'vqa-closed',
          model,
          out: path.join(out, 'grpo'),
          steps: String(grpoSteps),
          seed,
          quiet: o.quiet,
          force: o.force,
          set: [`data.dataset.dataDir=${JSON.stringify(dataDir)}`],
        },
        runDeps,
      )) as GrpoSummary;
      if (g.stopped) throw new Error(`GRPO stopped at step ${g.step}; its checkpoint is ${g.checkpoint}`);
      model = path.resolve(g.checkpoint);
      grpo = { steps: g.step, seconds: (performance.now() - t2) / 1000 };
    }

    log(`scoring ${model} on the closed test splits, with real and with blank images`);
    const { model: m } = await loadModel(gpu, model);
    try {
      const tok = await loadTokenizer(nodeDirSource(model), model);
      const bench = (blank: boolean) => BENCHMARKS.map((b, i) => ({ name: b.key, items: blank ? withBlankImages(tests[i]) : tests[i] }));
      const evalOpts = { maxNewTokens: 16, batchSize: 32 };
      const real = await runEval(m, tok, bench(false), evalOpts);
      const blind = await runEval(m, tok, bench(true), evalOpts);
      const score = (key: string, i: number): DemoScore => ({
        accuracy: real.summary.benchmarks.find((r) => r.name === key)!.accuracy,
        majority: constantAnswerAccuracy(tests[i], majority[i]),
        majority_answer: majority[i],
        blind: blind.summary.benchmarks.find((r) => r.name === key)!.accuracy,
        n: tests[i].length,
      });
      const summary: DemoSummary = {
        vqa_rad: score('vqa_rad', 0),
        slake: score('slake', 1),
        model,
        sft: { steps: sft.step, seconds: sftSeconds, params: sft.params, train_items: sft.data.items },
        grpo,
        seconds: (performance.now() - t0) / 1000,
      };
      await writeFile(path.join(out, 'demo.json'), JSON.stringify(summary, null, 2) + '\n');
      const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
      for (const b of BENCHMARKS) {
        const s = summary[b.key];
        log(`${b.dataset} closed test (${s.n}): model ${pct(s.accuracy)}, majority ${pct(s.majority)}, blind ${pct(s.blind)}`);
      }
      return summary;
    } finally {
      m.release();
    }
  } finally {
    if (!lent) gpu.destroy();
  }
}

export function registerDemo(program: Command) {
  program
    .command('demo <name>')
    .description(
      'a whole run on real data in one command; vqa-closed: a tiny VLM from scratch on VQA-RAD + SLAKE closed questions, scored beside the majority and blind baselines',
    )
    .option('--data-dir <dir>', 'folder holding vqa-rad/ and slake/ (the original public files)')
    .option('--out <dir>', 'where the runs and demo.json go (default runs/demo-vqa-closed)')
    .option('--steps <n>', "SFT optimizer steps (default: the vqa-closed preset's 2 epochs, 361 steps)")
    .option('--grpo-steps <n>', 'GRPO steps after SFT (default 0)')
    .option('--seed <n>', 'seed of both runs')
    .option('--eval-limit <n>', 'score only the first n test items of each benchmark (a quick look)')
    .option('--set <key=value>', 'override an SFT config key (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--force', 'train into a non-empty --out folder')
    .option('--json', 'print the scores as one JSON line on stdout')
    .option('--quiet', 'no per-step lines')
    .action(async (name: string, o: DemoCliOptions) => {
      const s = await runDemoCommand(name, o);
      const line = { vqa_rad: s.vqa_rad, slake: s.slake };
      if (o.json) process.stdout.write(JSON.stringify(line) + '\n');
      process.stderr.write(`done in ${(s.seconds / 60).toFixed(1)} min; scores in ${path.join(path.dirname(path.dirname(s.model)), 'demo.json')}\n`);
    });
}
