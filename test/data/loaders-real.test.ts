// Loaders on the original public files in ../shared/data (read in place, never copied).

import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadMedMcqa, loadMedQa, loadMedXpertQaMM, loadMmluMedical, loadPubMedQa, loadSlake, loadVqaRad } from '../../src/data/loaders';
import type { LoadResult } from '../../src/data/report';
import type { QAItem } from '../../src/task/schema';
import { InputError } from '../../src/engine/errors';
import { DATA_DIR, HAS_DATA, NO_DATA_MESSAGE, realSource } from './helpers';

const sha16 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex').slice(0, 16);

function checkInvariants({ items, report }: LoadResult) {
  expect(report.out).toBe(items.length);
  expect(report.in).toBe(report.out + report.dropped.length);
  expect(report.records).toBe(report.in + Object.values(report.excluded).reduce((a, b) => a + b, 0));
  for (const it of items) {
    expect(Object.keys(it.options)).toContain(it.answer_label);
    expect(it.options[it.answer_label]).toBe(it.answer);
    expect(it.hash).toBe(sha16(it.question + it.answer));
  }
}

const byIndex = (items: QAItem[], i: number) => items.find((x) => x.dataset_index === i)!;

describe.skipIf(!HAS_DATA)(`real datasets in ${HAS_DATA ? DATA_DIR : NO_DATA_MESSAGE}`, () => {
  it('VQA-RAD official test: 451 questions, 272 closed in, every dropped one listed', async () => {
    const res = await loadVqaRad(realSource('vqa-rad'), { split: 'test' });
    const r = res.report;
    checkInvariants(res);
    expect(r.records).toBe(451);
    expect(r.excluded).toEqual({ 'open question': 179 });
    expect(r.in).toBe(272);
    expect(r.out).toBe(271);
    expect(r.dropped).toEqual([
      {
        where: 'VQA_RAD Dataset Public.json[243]',
        kind: 'not-convertible',
        reason: 'gold answer "one" is not among the options [Multiple | Just 1 metastatic focus]',
        question: 'Are there multiple or just 1 metastatic focus?',
        answer: 'one',
      },
    ]);
    expect(res.items.every((x) => x.dataset_name === 'vqa_rad_closed' && x.split === 'test' && x.images.length === 1)).toBe(true);
    expect(res.items.filter((x) => x.options.A === 'Yes' && x.options.B === 'No').length).toBe(251);

    const ct = byIndex(res.items, 1921);
    expect([ct.question, ct.options, ct.answer_label, ct.answer]).toEqual(['Is this a CT or an MRI?', { A: 'CT', B: 'MRI' }, 'B', 'MRI']);
    expect(ct.images[0].name).toBe('images/synpic31116.jpg');
    expect(await ct.images[0].load()).toEqual(new Uint8Array(await readFile(path.join(DATA_DIR, 'vqa-rad/images/synpic31116.jpg'))));
    const pleura = byIndex(res.items, 1747);
    expect([pleura.options, pleura.answer_label]).toEqual([{ A: 'Left', B: 'Right', C: 'Both' }, 'C']);
    const yes = byIndex(res.items, 10);
    expect([yes.question, yes.options, yes.answer_label]).toEqual(['Is there evidence of an aortic aneurysm?', { A: 'Yes', B: 'No' }, 'A']);
  });

  it('VQA-RAD train is the other 1,797 questions', async () => {
    const res = await loadVqaRad(realSource('vqa-rad'), { split: 'train' });
    checkInvariants(res);
    expect(res.report.records).toBe(1797);
    expect(res.report.excluded['open question']).toBe(770);
    expect(res.report.in).toBe(1027);
    const all = await loadVqaRad(realSource('vqa-rad'), { split: 'all' });
    expect([all.report.records, all.report.in]).toEqual([2248, 1299]);
    expect(all.items.filter((x) => x.split === 'test').length).toBe(271);
    expect(all.items.filter((x) => x.split === 'train').length).toBe(res.report.out);
  });

  it('SLAKE English test: 1,061 questions, 416 closed in', async () => {
    const res = await loadSlake(realSource('slake'), { split: 'test' });
    const r = res.report;
    checkInvariants(res);
    expect(r.records).toBe(2094);
    expect(r.excluded).toEqual({ 'question language zh': 1033, 'open question': 645 });
    expect(r.records - r.excluded['question language zh']).toBe(1061);
    expect(r.in).toBe(416);
    expect(r.out).toBe(415);
    expect(r.dropped.map((d) => [d.where, d.kind, d.reason])).toEqual([
      ['test.json[196]', 'not-convertible', 'gold answer "Liver" is not among the options [Kidney | Spleen]'],
    ]);
    expect(r.prefixMatched).toBe(3);
    const heart = byIndex(res.items, 37);
    expect([heart.question, heart.options, heart.answer_label, heart.images[0].name]).toEqual([
      'Which organ is abnormal, heart or lung?',
      { A: 'Heart', B: 'Lung' },
      'A',
      'imgs/xmlab124/source.jpg',
    ]);
    const t2 = byIndex(res.items, 717);
    expect([t2.options, t2.answer_label]).toEqual([{ A: 'T1 weighted', B: 'T2 weighted' }, 'B']);
  });

  it('SLAKE English train and validate sizes', async () => {
    const train = await loadSlake(realSource('slake'), { split: 'train' });
    const val = await loadSlake(realSource('slake'), { split: 'validation' });
    checkInvariants(train);
    checkInvariants(val);
    expect(train.report.records - train.report.excluded['question language zh']).toBe(4919);
    expect(val.report.records - val.report.excluded['question language zh']).toBe(1053);
    expect(val.report.split).toBe('validate');
  });

  it('MedQA test: 1,273 four-option items; gold = answer_idx', async () => {
    const res = await loadMedQa(realSource('medqa'), { split: 'test' });
    checkInvariants(res);
    expect(res.report.out).toBe(1273);
    expect(res.items.every((x) => Object.keys(x.options).join('') === 'ABCD' && x.images.length === 0)).toBe(true);
    const first = res.items[0];
    expect(first.answer_label).toBe('B');
    expect(first.answer).toBe('Tell the attending that he cannot fail to disclose this mistake');
    expect(first.source).toBe('test.jsonl:1');
  });

  it('MedMCQA dev: 4,183 items, cop 1-4 -> A-D for every line', async () => {
    const res = await loadMedMcqa(realSource('medmcqa'), { split: 'dev' });
    checkInvariants(res);
    expect(res.report.out).toBe(4183);
    const lines = (await readFile(path.join(DATA_DIR, 'medmcqa/dev.jsonl'), 'utf8')).split('\n').filter((l) => l.trim());
    const recs = lines.map((l) => JSON.parse(l));
    expect(res.items.map((x) => [x.answer_label, x.answer])).toEqual(
      recs.map((rec) => [['A', 'B', 'C', 'D'][rec.cop - 1], [rec.opa, rec.opb, rec.opc, rec.opd][rec.cop - 1]]),
    );
    // A 0-based reading of the same file must not pass silently: its 4s are out of range.
    const wrong = await loadMedMcqa(realSource('medmcqa'), { split: 'dev', copBase: 0 });
    expect(wrong.report.dropped.length).toBe(recs.filter((rec) => rec.cop === 4).length);
    expect(wrong.report.dropped[0].reason).toMatch(/^cop 4 is not 0-3/);
  });

  it('PubMedQA: 500 test ids and 500 others, yes/no/maybe as in the file', async () => {
    const src = realSource('pubmedqa');
    const test = await loadPubMedQa(src, { split: 'test' });
    const train = await loadPubMedQa(src, { split: 'train' });
    checkInvariants(test);
    checkInvariants(train);
    expect([test.report.out, train.report.out]).toEqual([500, 500]);
    const gt = JSON.parse(await readFile(path.join(DATA_DIR, 'pubmedqa/test_ground_truth.json'), 'utf8')) as Record<string, string>;
    const ids = test.items.map((x) => /\[(\d+)\]$/.exec(x.source!)![1]);
    expect(new Set(ids)).toEqual(new Set(Object.keys(gt)));
    test.items.forEach((x, i) => {
      expect(x.options).toEqual({ A: 'yes', B: 'no', C: 'maybe' });
      expect(x.answer).toBe(gt[ids[i]]);
    });
    const raw = JSON.parse(await readFile(path.join(DATA_DIR, 'pubmedqa/ori_pqal.json'), 'utf8'));
    const one = test.items[0];
    const rec = raw[ids[0]];
    expect(one.question).toBe(`${rec.CONTEXTS.map((c: string, k: number) => `${rec.LABELS[k]}: ${c}`).join('\n')}\n\n${rec.QUESTION}`);
    expect(one.answer).toBe(rec.final_decision);
    const bare = await loadPubMedQa(src, { split: 'test', withContext: false });
    expect(bare.items.every((x) => !x.question.includes('\n\n'))).toBe(true);
  });

  it('MMLU medical: 1,089 test items from 6 CSVs with quoted commas', async () => {
    const res = await loadMmluMedical(realSource('mmlu-med'), { split: 'test' });
    checkInvariants(res);
    expect(res.report.out).toBe(1089);
    const perFile = new Map<string, number>();
    for (const x of res.items) {
      const f = x.source!.split(':')[0];
      perFile.set(f, (perFile.get(f) ?? 0) + 1);
    }
    expect(Object.fromEntries(perFile)).toEqual({
      'anatomy_test.csv': 135,
      'clinical_knowledge_test.csv': 265,
      'college_biology_test.csv': 144,
      'college_medicine_test.csv': 173,
      'medical_genetics_test.csv': 100,
      'professional_medicine_test.csv': 272,
    });
    const a = res.items[0];
    expect(a.options.C).toBe('paralysis of the facial muscles, loss of taste and lacrimation.');
    expect(a.answer_label).toBe('A');
    expect(res.items[1].question).toBe('A "dished face" profile is often associated with');
  });

  it('MedXpertQA MM: all 2,000 items reported as missing their images (none are here), none silently lost', async () => {
    const res = await loadMedXpertQaMM(realSource('medxpertqa-mm'), { split: 'test' });
    checkInvariants(res);
    expect(res.report.in).toBe(2000);
    expect(res.report.out).toBe(0);
    expect(res.report.dropped.every((d) => d.kind === 'missing-image')).toBe(true);
    expect(res.report.dropped[0]).toMatchObject({ where: 'test.jsonl:1', reason: 'image not found: MM-0-a.jpeg, MM-0-b.jpeg' });
    await expect(loadMedXpertQaMM(realSource('medxpertqa-mm'), { onBad: 'stop' })).rejects.toThrow(/^test\.jsonl:1: image not found/);

    const kept = await loadMedXpertQaMM(realSource('medxpertqa-mm'), { missingImages: 'keep' });
    checkInvariants(kept);
    expect(kept.report.out).toBe(2000);
    expect(kept.report.notes[0]).toMatch(/^2000 items kept although their images are missing/);
    const x = kept.items[0];
    expect(Object.keys(x.options)).toEqual(['A', 'B', 'C', 'D', 'E']);
    expect(x.answer).toBe('Lateral collateral ligament complex repair or reconstruction');
    expect(x.question).not.toMatch(/Answer Choices/);
    expect(x.question.endsWith('Which surgical step is considered to contribute the most to rotatory stability?')).toBe(true);
    expect(x.images.map((i) => i.name)).toEqual(['MM-0-a.jpeg', 'MM-0-b.jpeg']);
    await expect(x.images[0].load()).rejects.toThrow(InputError);
  });

  it('limit stops early and says so', async () => {
    const res = await loadVqaRad(realSource('vqa-rad'), { split: 'test', limit: 5 });
    expect(res.items.length).toBe(5);
    expect(res.report.notes).toContain('stopped after 5 items (limit)');
  });
});
