import { describe, expect, it, vi } from 'vitest';
import path from 'node:path';
import { Command } from 'commander';
import { dataStats, registerData } from '../../src/cli/commands/data';
import { DATA_DIR, HAS_DATA, NO_DATA_MESSAGE, tempFolder } from './helpers';

async function runCli(args: string[]) {
  const program = new Command('thinker').exitOverride();
  registerData(program);
  const out: string[] = [];
  const w = vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
    out.push(String(s));
    return true;
  });
  try {
    await program.parseAsync(args, { from: 'user' });
  } finally {
    w.mockRestore();
  }
  return out.join('');
}

describe('thinker data stats', () => {
  it('unknown dataset, missing data folder and bad options are errors that say so', async () => {
    await expect(dataStats({ dataset: 'nope', dataDir: '/tmp' })).rejects.toThrow(/^--dataset: unknown dataset "nope" \(choose vqa-rad, slake, /);
    await expect(dataStats({ dataset: 'slake', dataDir: '/nonexistent/data' })).rejects.toThrow(/^\/nonexistent\/data: data folder not found/);
    await expect(runCli(['data', 'stats', '--dataset', 'slake', '--data-dir', '/tmp', '--on-bad', 'maybe'])).rejects.toThrow(/--on-bad: must be skip or stop/);
  });

  it('lists every dropped item in text form, from a data dir or the dataset folder itself', async () => {
    const f = await tempFolder({
      'medmcqa/dev.jsonl':
        '{"question":"q1","opa":"a","opb":"b","opc":"c","opd":"d","cop":1}\n{"question":"q2","opa":"a","opb":"b","opc":"c","opd":"d","cop":9}\n',
    });
    try {
      const text = await runCli(['data', 'stats', '--dataset', 'medmcqa', '--data-dir', f.dir]);
      expect(text).toContain('records in split: 2\n');
      expect(text).toContain('items in: 2\nmultiple-choice items out: 1\ndropped: 1\n  bad-input: 1\n');
      expect(text).toContain('  - dev.jsonl:2 [bad-input] cop 9 is not 1-4');
      const direct = await dataStats({ dataset: 'medmcqa', dataDir: path.join(f.dir, 'medmcqa') });
      expect([direct.in, direct.out]).toEqual([2, 1]);
      await expect(runCli(['data', 'stats', '--dataset', 'medmcqa', '--data-dir', f.dir, '--on-bad', 'stop'])).rejects.toThrow(/^dev\.jsonl:2: cop 9/);
    } finally {
      await f.cleanup();
    }
  });

  it.skipIf(!HAS_DATA)(`VQA-RAD and SLAKE closed counts as JSON (${HAS_DATA ? 'real data' : NO_DATA_MESSAGE})`, async () => {
    const rad = JSON.parse(await runCli(['data', 'stats', '--dataset', 'vqa-rad', '--split', 'test', '--data-dir', DATA_DIR, '--json']));
    expect([rad.records, rad.in, rad.out, rad.dropped.length]).toEqual([451, 272, 271, 1]);
    expect(rad.dropped[0].where).toBe('VQA_RAD Dataset Public.json[243]');
    const slake = JSON.parse(await runCli(['data', 'stats', '--dataset', 'slake', '--split', 'test', '--data-dir', DATA_DIR, '--json']));
    expect([slake.in, slake.out, slake.out + slake.dropped.length]).toEqual([416, 415, 416]);
    const text = await runCli(['data', 'stats', '--dataset', 'slake_closed', '--data-dir', DATA_DIR]);
    expect(text).toContain('excluded (question language zh): 1033');
    expect(text).toContain(
      '  - test.json[196] [not-convertible] gold answer "Liver" is not among the options [Kidney | Spleen]  question: "Which is bigger in this image, kidney or spleen?"',
    );
  });
});
