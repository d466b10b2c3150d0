// `thinker curate` on the GPU with k = 4: a scripted tiny model (answers A or B with probability
// 1/2 each at temperature 1) on real VQA-RAD test items. Pass counts are re-derived here from the
// saved responses; the kept JSONL, the histogram and the verl parquet are checked against them.

import { describe, expect, it, beforeAll, vi } from 'vitest';
import { Command } from 'commander';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parquetReadObjects } from 'hyparquet';
import { registerCurate } from '../../src/cli/commands/curate';
import { parquetColumns } from '../../src/data/parquet';
import { DATA_DIR, HAS_DATA, NO_DATA_MESSAGE } from '../data/helpers';
import { scriptedResponse, tinyModel, type TinyModel } from '../eval/run-helpers';

async function thinkerCurate(args: string[]): Promise<string> {
  const out: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    out.push(String(s));
    return true;
  });
  try {
    const program = new Command('thinker').exitOverride();
    registerCurate(program);
    await program.parseAsync(['curate', ...args], { from: 'user' });
  } finally {
    spy.mockRestore();
  }
  return out.join('');
}

const readJsonl = async (f: string) =>
  (await readFile(f, 'utf8'))
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

/** The reward (recipe §5) for the two responses the scripted model gives: format holds, so the letter decides. */
const passes = (response: string, gold: string) => response === scriptedResponse(gold);

describe.skipIf(!HAS_DATA)(`thinker curate on real VQA-RAD items (${HAS_DATA ? 'data present' : NO_DATA_MESSAGE})`, () => {
  let tiny: TinyModel;
  let dir: string;
  beforeAll(async () => {
    tiny = await tinyModel({ seed: 5, pA: 0.5 });
    dir = await mkdtemp(path.join(os.tmpdir(), 'thinker-curate-'));
  });

  it('k = 4: pass counts match the responses, the window and easy-to-hard order hold, verl rows carry the images', async () => {
    const out = path.join(dir, 'kept.jsonl');
    const responses = path.join(dir, 'responses.jsonl');
    const verl = path.join(dir, 'kept.parquet');
    const stdout = await thinkerCurate([
      '--model',
      tiny.dir,
      '--dataset',
      'vqa-rad',
      '--data-dir',
      DATA_DIR,
      '--split',
      'test',
      '--limit',
      '6',
      '--k',
      '4',
      '--lo',
      '1',
      '--hi',
      '3',
      '--order',
      'easy-to-hard',
      '--max-new-tokens',
      '8',
      '--batch',
      '12',
      '--seed',
      '3',
      '--out',
      out,
      '--responses',
      responses,
      '--export-verl',
      verl,
      '--quiet',
    ]);

    const all = await readJsonl(responses);
    expect(all).toHaveLength(6);
    const counts = new Map<string, number>();
    for (const r of all) {
      expect(r.responses).toHaveLength(4);
      for (const x of r.responses) expect([scriptedResponse('A'), scriptedResponse('B')]).toContain(x);
      const want = r.responses.filter((x: string) => passes(x, r.answer_label)).length;
      expect(r.grades).toEqual(r.responses.map((x: string) => (passes(x, r.answer_label) ? 1 : 0)));
      expect(r.pass_count).toBe(want);
      counts.set(r.hash, want);
    }
    // Sampling really varies: not every item got the same count.
    expect(new Set(counts.values()).size).toBeGreaterThan(1);

    const summary = JSON.parse(await readFile(out.replace(/\.jsonl$/, '.summary.json'), 'utf8'));
    expect(summary.items).toBe(6);
    expect(summary.histogram).toHaveLength(5);
    expect(summary.histogram.reduce((a: number, b: { items: number }) => a + b.items, 0)).toBe(6);
    for (const b of summary.histogram) {
      expect(b.items).toBe([...counts.values()].filter((c) => c === b.pass_count).length);
      expect(b.kept).toBe(b.pass_count >= 1 && b.pass_count <= 3 ? b.items : 0);
    }
    expect(summary.settings).toMatchObject({ k: 4, lo: 1, hi: 3, order: 'easy-to-hard', seed: 42, grade: 'reward', temperature: 1, top_p: 1 });

    const kept = await readJsonl(out);
    const inWindow = [...counts.values()].filter((c) => c >= 1 && c <= 3).length;
    expect(kept).toHaveLength(inWindow);
    expect(summary.kept).toBe(inWindow);
    for (const k of kept) {
      expect(k.pass_count).toBe(counts.get(k.hash));
      expect(typeof k.options).toBe('string');
      expect(k.images).toHaveLength(1);
    }
    for (let i = 1; i < kept.length; i++) expect(kept[i - 1].pass_count).toBeGreaterThanOrEqual(kept[i].pass_count);
    expect(stdout).toContain(`kept ${inWindow} with pass count 1..3, order easy-to-hard`);

    const bytes = new Uint8Array(await readFile(verl));
    expect(parquetColumns(bytes, verl)).toEqual(['data_source', 'prompt', 'images', 'ability', 'reward_model', 'extra_info']);
    const rows = (await parquetReadObjects({ file: bytes.slice().buffer as ArrayBuffer, utf8: false })) as any[];
    expect(rows).toHaveLength(inWindow);
    for (const [i, r] of rows.entries()) {
      expect(r.data_source).toBe('kept');
      expect(r.extra_info.question).toBe(kept[i].question);
      expect(r.extra_info.index).toBe(BigInt(i));
      expect(r.reward_model.ground_truth).toBe(kept[i].answer);
      expect(r.prompt[0].content.startsWith('<image>You will solve a problem/request.')).toBe(true);
      const disk = new Uint8Array(await readFile(path.join(DATA_DIR, 'vqa-rad', kept[i].images[0])));
      expect(new Uint8Array(r.images[0].bytes)).toEqual(disk);
    }
  });

  it('curates a JSONL file in the recipe schema with images under --image-root; bad options fail before the GPU', async () => {
    const kept = path.join(dir, 'kept.jsonl');
    const n = (await readJsonl(kept)).length;
    const out = path.join(dir, 'again.jsonl');
    const json = JSON.parse(
      await thinkerCurate([
        '--model',
        tiny.dir,
        '--items',
        kept,
        '--image-root',
        path.join(DATA_DIR, 'vqa-rad'),
        '--k',
        '1',
        '--lo',
        '0',
        '--hi',
        '1',
        '--max-new-tokens',
        '8',
        '--out',
        out,
        '--json',
        '--quiet',
      ]),
    );
    expect(json.items).toBe(n);
    expect(json.kept).toBe(n);
    expect((await readJsonl(out)).every((r) => r.pass_count === 0 || r.pass_count === 1)).toBe(true);

    const base = ['--model', tiny.dir, '--dataset', 'vqa-rad', '--data-dir', DATA_DIR];
    // Without --hi the recipe's window (1..7 of 16) ends at k - 1 for fewer samples, instead of refusing.
    const few = JSON.parse(
      await thinkerCurate([...base, '--k', '2', '--limit', '2', '--max-new-tokens', '8', '--out', path.join(dir, 'few.jsonl'), '--json', '--quiet']),
    );
    expect(few.settings).toMatchObject({ k: 2, lo: 1, hi: 1 });
    await expect(thinkerCurate([...base, '--k', '4', '--hi', '7'])).rejects.toThrow(/hi \(7\) must not exceed k \(4\)/);
    await expect(thinkerCurate([...base, '--order', 'random'])).rejects.toThrow(/order must be shuffle or easy-to-hard/);
    await expect(thinkerCurate([...base, '--items', kept])).rejects.toThrow(/exactly one of --dataset/);
    await expect(thinkerCurate(['--model', tiny.dir, '--dataset', 'medxpertqa-mm', '--data-dir', DATA_DIR])).rejects.toThrow(
      /no usable items \(2000 records, 2000 dropped/,
    );
    await expect(thinkerCurate([...base, '--export-verl', 'x.csv'])).rejects.toThrow(/expected a \.parquet file/);
  });
});
