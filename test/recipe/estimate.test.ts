// The run estimate: measured first steps scaled to the whole run. Timing itself is never asserted
// (that is the bench's job); what is checked is that the estimate counts what the real run does:
// its steps and its evaluations, and that nothing is written for it.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runSftCommand, type SftSummary } from '../../src/cli/commands/sft';
import { evalCount, remainingSeconds, type RunEstimate } from '../../src/recipe/estimate';
import { MetricsLog } from '../../src/recipe/run-io';
import { testGpu } from '../helpers/gpu';
import { handMade, MICRO_MODEL } from './compare-items';

const RUN = [
  ...MICRO_MODEL,
  'batchSize=4',
  'data.synth.n=30',
  'data.synth.evalN=6',
  'eval.items=6',
  'eval.every=3',
  'eval.maxNewTokens=8',
  'epochs=1',
  'checkpoint.every=0',
];

describe('run estimate', () => {
  it('counts evaluations as the runs make them', () => {
    expect(evalCount({ items: 8, every: 3, atStart: true }, 8)).toBe(1 + 2 + 1); // start, 3, 6, end
    expect(evalCount({ items: 8, every: 4, atStart: false }, 8)).toBe(1 + 1); // 4, end (8 is the end)
    expect(evalCount({ items: 8, every: 0, atStart: true }, 8)).toBe(2);
    expect(evalCount({ items: 0, every: 2, atStart: true }, 8)).toBe(0);
    expect(remainingSeconds({ step: 0, total: 10, stepSeconds: [], evalSeconds: [], evalsLeft: 1 })).toBeNull();
    // The first step (kernel compilation) is left out once later steps are known.
    expect(remainingSeconds({ step: 3, total: 10, stepSeconds: [9, 1, 3], evalSeconds: [4], evalsLeft: 2 })).toBe(7 * 2 + 2 * 4);
    expect(remainingSeconds({ step: 1, total: 4, stepSeconds: [5], evalSeconds: [], evalsLeft: 1 })).toBe(15);
  });

  it('an SFT estimate names the steps and evaluations the real run then makes, and writes nothing', async () => {
    const gpu = await testGpu();
    const dir = mkdtempSync(path.join(tmpdir(), 'thinker-estimate-'));
    const deps = { gpu, handleSignals: false, log: () => undefined, generateSynth: handMade };
    const e = (await runSftCommand({ config: 'synth-micro', set: RUN, estimate: true, out: path.join(dir, 'never') }, deps)) as RunEstimate;
    expect(readdirSync(dir)).toEqual([]);
    expect(e.kind).toBe('sft');
    expect(e.measuredSteps).toBe(2);
    for (const k of ['secondsPerStep', 'secondsPerEval', 'setupSeconds', 'totalSeconds', 'measureSeconds'] as const) {
      expect(Number.isFinite(e[k]) && e[k] > 0, k).toBe(true);
    }
    expect(e.totalSeconds).toBeCloseTo(e.setupSeconds + e.totalSteps * e.secondsPerStep + e.evals * e.secondsPerEval, 6);

    const out = path.join(dir, 'run');
    const s = (await runSftCommand({ config: 'synth-micro', set: RUN, out, quiet: true }, deps)) as SftSummary;
    expect(e.totalSteps).toBe(s.totalSteps);
    expect(s.totalSteps).toBe(Math.ceil(s.data.examples / 4));
    const evals = (await MetricsLog.read(path.join(out, 'metrics.jsonl'))).filter((r) => r.type === 'eval');
    expect(e.evals).toBe(evals.length);
    expect(evals.length).toBeGreaterThanOrEqual(3);
  }, 300_000);
});
