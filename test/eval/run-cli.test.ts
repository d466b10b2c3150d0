// `thinker eval` end to end, in process through the same commander program the CLI builds: a tiny
// random model on real VQA-RAD test items writes per-item JSONL, a summary and the table; benchmark
// loading picks each source's own files or the paper's evaluation parquet; bad benchmark lists fail
// before any GPU work.

import { describe, expect, it, beforeAll, afterEach, vi } from 'vitest';
import { Command } from 'commander';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gradeAnswer } from '../../src/task/grader';
import { loadBenchmarks, parseBenchmarkList, registerEval, PAPER_SIX } from '../../src/cli/commands/eval';
import type { EvalRecord } from '../../src/eval/run';
import { DATA_DIR, HAS_DATA, NO_DATA_MESSAGE, parquetFile, pngFile, pq, tempFolder } from '../data/helpers';
import { tinyModel, type TinyModel } from './run-helpers';

const sha16 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex').slice(0, 16);

async function thinkerEval(args: string[]): Promise<string> {
  const out: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    out.push(String(s));
    return true;
  });
  try {
    const program = new Command('thinker').exitOverride();
    registerEval(program);
    await program.parseAsync(['eval', ...args], { from: 'user' });
  } finally {
    spy.mockRestore();
  }
  return out.join('');
}

afterEach(() => vi.restoreAllMocks());

describe('benchmark lists and sources', () => {
  it('parses names and aliases, expands "paper", rejects unknown and repeated names', () => {
    expect(parseBenchmarkList('VQA_RAD, slake,mmmu-medical')).toEqual(['vqa-rad', 'slake', 'mmmu']);
    expect(parseBenchmarkList('paper')).toEqual(PAPER_SIX);
    expect(() => parseBenchmarkList('vqa-rad,chexpert')).toThrow(/unknown benchmark "chexpert"/);
    expect(() => parseBenchmarkList('slake,slake_closed')).toThrow(/slake is listed twice/);
    expect(() => parseBenchmarkList(' , ')).toThrow(/at least one/);
  });

  it("reads a benchmark from the paper's evaluation parquet when its own folder is absent, with the limit per benchmark", async () => {
    const img = pngFile(4, 4, new Uint8Array(64).fill(200));
    const n = 5;
    const names = ['MMMU-medical', 'vqa_rad_closed', 'MMMU-medical', 'MMMU-medical', 'pmc_vqa'];
    const { dir, cleanup } = await tempFolder({
      'medvlthinker-eval/data/test-00000-of-00001.parquet': parquetFile([
        { name: 'images', schema: pq.imageList('images'), data: names.map(() => [{ bytes: img, path: 'a.png' }]) },
        { name: 'question', schema: pq.str('question'), data: names.map((_, i) => `Question ${i}?`) },
        { name: 'options', schema: pq.str('options'), data: names.map(() => '{"A": "left", "B": "right"}') },
        { name: 'answer_label', schema: pq.str('answer_label'), data: ['A', 'B', 'B', 'A', 'A'] },
        { name: 'answer', schema: pq.str('answer'), data: ['left', 'right', 'right', 'left', 'left'] },
        { name: 'dataset_name', schema: pq.str('dataset_name'), data: names },
        { name: 'dataset_index', schema: pq.int64('dataset_index'), data: Array.from({ length: n }, (_, i) => BigInt(i)) },
      ]),
    });
    try {
      const got = await loadBenchmarks({ names: ['mmmu', 'vqa-rad'], dataDir: dir, limit: 2 });
      expect(got.benchmarks.map((b) => [b.name, b.items.map((it) => it.question)])).toEqual([
        ['mmmu', ['Question 0?', 'Question 2?']],
        ['vqa-rad', ['Question 1?']],
      ]);
      expect(got.reports.mmmu.from).toBe(path.join(dir, 'medvlthinker-eval'));
      await expect(loadBenchmarks({ names: ['slake'], dataDir: dir })).rejects.toThrow(/slake \(.*no usable rows with dataset_name slake_closed/);
      await expect(loadBenchmarks({ names: ['mmmu'], dataDir: dir, source: 'native' })).rejects.toThrow(/mmmu \(no data/);
      await expect(loadBenchmarks({ names: ['medqa', 'mmmu'], dataDir: dir })).rejects.toThrow(/1 benchmark\(s\): medqa \(no data: looked for .*medqa/);
    } finally {
      await cleanup();
    }
  });
});

describe.skipIf(!HAS_DATA)(`thinker eval on real VQA-RAD items (${HAS_DATA ? 'data present' : NO_DATA_MESSAGE})`, () => {
  let tiny: TinyModel;
  beforeAll(async () => {
    tiny = await tinyModel({ seed: 11 });
  });

  it('writes per-item JSONL, a summary and the table beside the paper rows; accuracy is the share of correct records', async () => {
    const out = path.join(await mkdtemp(path.join(os.tmpdir(), 'thinker-eval-out-')), 'run');
    const stdout = await thinkerEval([
      '--model',
      tiny.dir,
      '--benchmarks',
      'vqa-rad',
      '--data-dir',
      DATA_DIR,
      '--limit',
      '3',
      '--max-new-tokens',
      '5',
      '--batch',
      '3',
      '--out',
      out,
      '--quiet',
      '--paper-rows',
      '3B',
    ]);
    const records = (await readFile(path.join(out, 'records.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as EvalRecord);
    expect(records).toHaveLength(3);
    for (const r of records) {
      expect(r.benchmark).toBe('vqa-rad');
      expect(r.hash).toBe(sha16(r.question + r.answer));
      expect(r.prompt).toContain(`Question: ${r.question}`);
      expect(r.response_tokens).toBeGreaterThan(0);
      expect(r.response_tokens).toBeLessThanOrEqual(5);
      const g = gradeAnswer(r.response, r.options, r.answer_label, r.answer);
      expect([r.extracted, r.pred_letter, r.correct]).toEqual([g.extracted, g.predLetter, g.correct]);
    }
    const summary = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8'));
    const b = summary.run.benchmarks[0];
    expect(b).toMatchObject({ name: 'vqa-rad', items: 3 });
    expect(b.accuracy).toBe(records.filter((r) => r.correct).length / 3);
    expect(summary.run.average.accuracy).toBe(b.accuracy);
    expect(summary.load_reports['vqa-rad']).toMatchObject({ dataset: 'vqa-rad', split: 'test', out: 3 });
    expect(summary.paper.rows.map((r: { label: string }) => r.label)).toEqual([
      'paper: Qwen2.5-VL-3B-Instruct',
      'paper: 3B SFT(m23k)',
      'paper: 3B SFT(PMC)',
      'paper: 3B RL(m23k)',
      'paper: 3B RL(PMC)',
    ]);
    const table = await readFile(path.join(out, 'table.txt'), 'utf8');
    expect(stdout.trim()).toBe(table.trim());
    expect(table).toMatch(/VQA-RAD\s+Avg\./);
    expect(table).toMatch(new RegExp(`this run: model \\(greedy\\)\\s+${(b.accuracy * 100).toFixed(2)}`));
    expect(table).toMatch(/paper: 3B RL\(m23k\)\s+71\.08\s+71\.08 \[53\.19\]/);
  });

  it('--baseline evaluates a second model on the same items and prints both rows and their difference', async () => {
    const out = path.join(await mkdtemp(path.join(os.tmpdir(), 'thinker-eval-base-')), 'run');
    // Two scripted models: one answers A, the other almost never does.
    const always = await tinyModel({ seed: 12, pA: 0.99 });
    const never = await tinyModel({ seed: 13, pA: 0.01 });
    const args = [
      '--benchmarks',
      'vqa-rad',
      '--data-dir',
      DATA_DIR,
      '--limit',
      '6',
      '--max-new-tokens',
      '8',
      '--batch',
      '6',
      '--quiet',
      '--paper-rows',
      'none',
    ];
    const stdout = await thinkerEval(['--model', always.dir, '--baseline', never.dir, '--out', out, ...args]);
    const read = async (f: string) => JSON.parse(await readFile(f, 'utf8'));
    const main = await read(path.join(out, 'summary.json'));
    const base = await read(path.join(out, 'baseline', 'summary.json'));
    const records = async (f: string) =>
      (await readFile(f, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as EvalRecord);
    const baseRecords = await records(path.join(out, 'baseline', 'records.jsonl'));
    const mainRecords = await records(path.join(out, 'records.jsonl'));
    // The same items, graded independently.
    expect(baseRecords.map((r) => r.hash)).toEqual(mainRecords.map((r) => r.hash));
    const acc = (rs: EvalRecord[]) => (100 * rs.filter((r) => r.correct).length) / rs.length;
    expect(main.baseline).toMatchObject({ label: 'model', average: { accuracy: base.run.average.accuracy } });
    const table = await readFile(path.join(out, 'table.txt'), 'utf8');
    expect(stdout).toContain(table.trim());
    expect(table).toMatch(new RegExp(`baseline: model \\(greedy\\)\\s+${acc(baseRecords).toFixed(2)}`));
    const d = acc(mainRecords) - acc(baseRecords);
    expect(table).toMatch(new RegExp(`difference \\(points\\)\\s+${d >= 0 ? '\\+' : '-'}${Math.abs(d).toFixed(2)}`));
    expect(acc(mainRecords)).not.toBe(acc(baseRecords));
  });

  it('names benchmarks without usable items (MedXpertQA images are not in the shared data) before the GPU starts', async () => {
    const err = await thinkerEval([
      '--model',
      tiny.dir,
      '--benchmarks',
      'vqa-rad,medxpertqa-mm',
      '--data-dir',
      DATA_DIR,
      '--limit',
      '2',
      '--source',
      'native',
    ]).then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/no usable items in 1 benchmark\(s\): medxpertqa-mm \(.*missing-image 2000/);
    await expect(thinkerEval(['--model', tiny.dir, '--benchmarks', 'vqa-rad', '--data-dir', DATA_DIR, '--n', '0'])).rejects.toThrow(
      /--n: expected an integer >= 1/,
    );
    await expect(thinkerEval(['--model', path.join(tiny.dir, 'nope'), '--benchmarks', 'vqa-rad', '--data-dir', DATA_DIR])).rejects.toThrow(
      /model folder not found/,
    );
  });
});
