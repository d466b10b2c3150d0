// `thinker demo vqa-closed` on the real VQA-RAD and SLAKE files, cut short (2 SFT steps of a tiny
// model, 8 test items of each benchmark): the plumbing, and the baselines against counts made here
// independently of the grader. Its accuracy is measured by the full run (README, scripts/bench-demo.ts),
// never asserted in a test.
import { describe, it, expect } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runDemoCommand } from '../../src/cli/commands/demo';
import { findDataset } from '../../src/data/loaders';
import { nodeDirSource } from '../../src/io/workspace';
import { InputError } from '../../src/engine/errors';
import { testGpu } from '../helpers/gpu';

import { DATA_DIR as DATA, HAS_DATA } from '../data/helpers';
const TINY = [
  'model.hiddenSize=32',
  'model.numHeads=2',
  'model.numKvHeads=1',
  'model.intermediateSize=64',
  'model.vocabSize=400',
  'data.dataset.limit=40',
  'data.dataset.heldOut=4',
  'batchSize=4',
  'eval.items=4',
  'eval.every=0',
];

async function items(dataset: string, split: string) {
  const spec = findDataset(dataset)!;
  return (await spec.load(nodeDirSource(path.join(DATA, spec.dir)), { split })).items;
}

describe('thinker demo vqa-closed', () => {
  // The real VQA-RAD and SLAKE files live beside the repository (../shared/data); without them this is skipped.
  it.skipIf(!HAS_DATA)(
    'trains, scores the model, the majority answer and the blind model on both test splits, and writes demo.json',
    async () => {
      const gpu = await testGpu();
      const out = path.join(mkdtempSync(path.join(tmpdir(), 'thinker-demo-')), 'demo');
      const s = await runDemoCommand(
        'vqa-closed',
        { dataDir: DATA, out, steps: '2', evalLimit: '8', set: TINY, quiet: true },
        { gpu, handleSignals: false, log: () => undefined },
      );

      // Majority: each benchmark's own most common training answer, counted here by hand.
      for (const [key, dataset, answer] of [
        ['vqa_rad', 'vqa-rad', 'No'],
        ['slake', 'slake', 'Yes'],
      ] as const) {
        const train = await items(dataset, 'train');
        const count = (a: string) => train.filter((it) => it.answer.toLowerCase() === a.toLowerCase()).length;
        expect(count(answer)).toBeGreaterThan(count(answer === 'No' ? 'Yes' : 'No'));
        const test = (await items(dataset, 'test')).slice(0, 8);
        const score = s[key];
        expect(score.n).toBe(8);
        expect(score.majority_answer).toBe(answer);
        expect(score.majority).toBe(test.filter((it) => it.answer.toLowerCase() === answer.toLowerCase()).length / 8);
        for (const v of [score.accuracy, score.blind]) {
          expect(v * 8).toBeCloseTo(Math.round(v * 8), 9);
          expect(v).toBeGreaterThanOrEqual(0);
          expect(v).toBeLessThanOrEqual(1);
        }
      }
      expect(s.sft.steps).toBe(2);
      expect(s.sft.train_items).toBe(80 - 4);
      expect(s.grpo).toBeNull();
      expect(s.model).toBe(path.join(out, 'sft', 'checkpoint-2'));
      expect(JSON.parse(readFileSync(path.join(out, 'demo.json'), 'utf8'))).toEqual(s);
      expect(existsSync(path.join(s.model, 'model.safetensors'))).toBe(true);
      const cfg = JSON.parse(readFileSync(path.join(s.model, 'config.json'), 'utf8'));
      expect(cfg.thinker.vision.image_size).toBeGreaterThan(0);
      expect(existsSync(path.join(s.model, 'vision.safetensors'))).toBe(true);

      // A second run into the same folder is refused; --force trains again.
      await expect(runDemoCommand('vqa-closed', { dataDir: DATA, out, steps: '1' }, { gpu, handleSignals: false, log: () => undefined })).rejects.toThrow(
        /not empty.*--force/,
      );
    },
    900_000,
  );

  it('bad input is refused before any work, naming what is wrong', async () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'thinker-demo-bad-'));
    const noGpu = { handleSignals: false, log: () => undefined };
    await expect(runDemoCommand('vqa-open', { dataDir: DATA }, noGpu)).rejects.toThrow(/unknown demo "vqa-open"/);
    await expect(runDemoCommand('vqa-closed', {}, noGpu)).rejects.toThrow(/--data-dir.*required/);
    await expect(runDemoCommand('vqa-closed', { dataDir: empty }, noGpu)).rejects.toThrow(InputError);
    mkdirSync(path.join(empty, 'vqa-rad'));
    mkdirSync(path.join(empty, 'slake'));
    writeFileSync(path.join(empty, 'slake', 'test.json'), '[not json');
    await expect(runDemoCommand('vqa-closed', { dataDir: empty, out: path.join(empty, 'o') }, noGpu)).rejects.toThrow(InputError);
    expect(existsSync(path.join(empty, 'o'))).toBe(false);
    await expect(runDemoCommand('vqa-closed', { dataDir: HAS_DATA ? DATA : empty, evalLimit: '0' }, noGpu)).rejects.toThrow(/--eval-limit/);
  });
});
