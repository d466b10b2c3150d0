// A run whose loss or gradient norm turns NaN or infinite stops at that step with a message naming
// it and the last good checkpoint, which stays as it was: no checkpoint of broken weights, no NaN
// row in metrics.jsonl, run.json 'failed' with the reason (what the app shows). GRPO refuses a
// group size of 1, whose advantages are always 0.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { QAItem } from '../../src/task/schema';
import { DivergedError, InputError } from '../../src/engine/errors';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors';
import { nodeWorkspace } from '../../src/io/workspace';
import { runSftCommand, type SftCliOptions, type SftSummary, type SynthGenerator } from '../../src/cli/commands/sft';
import { runGrpoCommand } from '../../src/cli/commands/grpo';
import { MetricsLog, readRunInfo } from '../../src/recipe/run-io';
import { applyGrpoOverrides, grpoConfigFrom, GRPO_DEFAULTS } from '../../src/recipe/grpo-config';
import { rng, testGpu } from '../helpers/gpu';

const dir = mkdtempSync(path.join(tmpdir(), 'thinker-diverge-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const compare = (n: number, seed: number, split: string): QAItem[] => {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const a = 1 + r.int(9),
      b = 1 + r.int(9);
    const label = a > b ? 'A' : 'B';
    return {
      images: [],
      question: `${a} > ${b}?`,
      options: { A: 'yes', B: 'no' },
      answer_label: label,
      answer: label === 'A' ? 'yes' : 'no',
      reasoning: `${a} ${a > b ? '>' : '<='} ${b}`,
      dataset_name: `compare-${split}`,
      dataset_index: i,
      hash: `${split}-${seed}-${i}`,
    };
  });
};
const handMade: SynthGenerator = (o) => compare(o.n, o.seed + (o.split === 'test' ? 1000 : 0), o.split);
const MICRO = [
  'model.hiddenSize=32',
  'model.numHeads=2',
  'model.numKvHeads=1',
  'model.intermediateSize=64',
  'model.context=160',
  'maxLength=160',
  'batchSize=2',
  'data.synth.n=8',
  'eval.items=0',
  'checkpoint.every=1',
  'checkpoint.keep=5',
];
const sft = async (o: SftCliOptions) =>
  runSftCommand(
    { config: 'synth-micro', quiet: true, ...o },
    { gpu: await testGpu(), generateSynth: handMade, handleSignals: false, log: () => undefined },
  ) as Promise<SftSummary>;

/** Scale the final norm so far that the logits overflow to infinity: finite weights, a NaN loss. */
function poison(checkpoint: string) {
  const f = path.join(checkpoint, 'model.safetensors');
  const t = readSafetensors(new Uint8Array(readFileSync(f)), f);
  t.get('model.norm.weight')!.data.fill(3e38);
  writeFileSync(
    f,
    writeSafetensors(
      [...t].map(([name, v]) => ({ name, ...v })),
      { format: 'pt' },
    ),
  );
}

const files = (d: string) => readdirSync(d).sort();

describe('a diverging run', () => {
  const run = path.join(dir, 'sft');
  beforeAll(async () => {
    await sft({ out: run, steps: '2', set: MICRO });
    poison(path.join(run, 'checkpoint-2'));
  }, 300_000);

  it('SFT stops at the step, names it and the last good checkpoint, and writes nothing of it', async () => {
    const before = readFileSync(path.join(run, 'checkpoint-2', 'model.safetensors'));
    let err: unknown;
    try {
      await sft({ config: undefined, resume: run, steps: '4' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DivergedError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/^training diverged at step 3: the loss is (NaN|Infinity)/);
    expect(msg).toContain(`the last good checkpoint is ${path.join(run, 'checkpoint-2')}`);
    expect(files(run)).toEqual(['checkpoint-1', 'checkpoint-2', 'metrics.jsonl', 'run.json', 'run_config.json', 'summary.json']);
    expect(readFileSync(path.join(run, 'checkpoint-2', 'model.safetensors'))).toEqual(before);
    const rows = await MetricsLog.read(path.join(run, 'metrics.jsonl'));
    expect(rows.map((r) => r.step)).toEqual([1, 2]);
    expect(await readRunInfo(nodeWorkspace(run))).toMatchObject({ status: 'failed', step: 2, error: msg });
  }, 300_000);

  it('a resume refuses NaN AdamW moments, naming the file and the tensor', async () => {
    const copy = path.join(dir, 'sft-copy');
    cpSync(run, copy, { recursive: true });
    const f = path.join(copy, 'checkpoint-1', 'optimizer.safetensors');
    const t = readSafetensors(new Uint8Array(readFileSync(f)), f);
    t.get('v.model.norm.weight')!.data[1] = NaN;
    writeFileSync(f, writeSafetensors([...t].map(([name, v]) => ({ name, ...v }))));
    let err: unknown;
    try {
      await sft({ config: undefined, resume: path.join(copy, 'checkpoint-1'), steps: '3' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toBe(`${f}: tensor v.model.norm.weight holds NaN (element 1): NaN or infinite moments`);
  }, 300_000);

  it('GRPO stops at its first step from a model whose logits overflow', async () => {
    const start = path.join(dir, 'poisoned-start');
    cpSync(path.join(run, 'checkpoint-2'), start, { recursive: true });
    const out = path.join(dir, 'grpo');
    let err: unknown;
    try {
      await runGrpoCommand(
        {
          config: 'synth-micro',
          model: start,
          out,
          quiet: true,
          set: [
            'steps=2',
            'promptsPerStep=2',
            'groupSize=2',
            'maxNewTokens=4',
            'maxPromptTokens=150',
            'microBatch=4',
            'rolloutBatch=4',
            'data.synth.n=4',
            'eval.items=0',
            'checkpoint.every=1',
          ],
        },
        { gpu: await testGpu(), generateSynth: handMade, handleSignals: false, log: () => undefined },
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DivergedError);
    expect((err as Error).message).toMatch(
      /^training diverged at step 1: the (loss|gradient norm) is (NaN|Infinity|-Infinity).*no checkpoint was saved before it/,
    );
    expect(existsSync(path.join(out, 'checkpoint-1'))).toBe(false);
    expect(await MetricsLog.read(path.join(out, 'metrics.jsonl'))).toEqual([]);
    expect(await readRunInfo(nodeWorkspace(out))).toMatchObject({ status: 'failed', step: 0 });
  }, 300_000);
});

describe('GRPO group size', () => {
  it('refuses G = 1 with the reason, in a config file and in --set', () => {
    for (const f of [() => grpoConfigFrom({ groupSize: 1 }, 'g.json'), () => applyGrpoOverrides(GRPO_DEFAULTS, ['groupSize=1'])]) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toMatch(
        /groupSize must be at least 2: with one response per prompt every advantage \(reward - group mean\) is 0, so nothing is learned/,
      );
    }
  });
});
