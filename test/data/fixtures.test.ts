// Loaders for the formats with no real files here (PMC-VQA CSV, PathVQA and MedVLThinker-Eval
// parquet, the generic loader), on small fixtures written at test time; and bad input of every kind.

import { afterAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { decodeImage } from '../../src/io/images';
import {
  loadGeneric,
  loadMedMcqa,
  loadMedQa,
  loadMedVlThinkerEval,
  loadMmluMedical,
  loadPathVqa,
  loadPmcVqa,
  loadSlake,
  loadVqaRad,
} from '../../src/data/loaders';
import { parquetColumns } from '../../src/data/parquet';
import type { LoadResult } from '../../src/data/report';
import { MemoryWorkspace, nodeDirSource } from '../../src/io/workspace';
import { parquetFile, pngFile, pq, seeded, tempFolder } from './helpers';

const sha16 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex').slice(0, 16);
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

async function folder(files: Record<string, Uint8Array | string>) {
  const f = await tempFolder(files);
  cleanups.push(f.cleanup);
  return f.source;
}

function png(seed: number, w = 5, h = 4) {
  const r = seeded(seed);
  return pngFile(
    w,
    h,
    Uint8Array.from({ length: w * h * 4 }, (_, i) => (i % 4 === 3 ? 255 : Math.floor(r() * 256))),
  );
}

function invariants({ items, report }: LoadResult) {
  expect(report.out).toBe(items.length);
  expect(report.in).toBe(report.out + report.dropped.length);
  expect(report.records).toBe(report.in + Object.values(report.excluded).reduce((a, b) => a + b, 0));
  for (const it of items) expect(it.hash).toBe(sha16(it.question + it.answer));
}

describe('PMC-VQA CSV', () => {
  const header = 'Figure_path,Caption,Question,Choice A,Choice B,Choice C,Choice D,Answer,split\n';
  const rows = [
    'PMC1_F1.jpg,"A caption, with a comma\nand a line break",What is shown?, A:CT scan , B:MRI ,C: X-ray,D:Ultrasound,B,test\n',
    'PMC2_F2.jpg,cap,Which stain?,A:H&E,B:PAS,C:Gram,D:Giemsa,C:Gram,test\n',
    'PMC3_F3.jpg,cap,Where is it?,A:Left,B:Right,C:Both,D:None,E,test\n',
    'missing.jpg,cap,Image gone?,A:a,B:b,C:c,D:d,A,test\n',
    'PMC4_F4.jpg,cap,Too few columns,A:a,B:b\n',
  ];

  it('reads choices "A:text", gold letters and "C:text", finds images, reports each bad row by line', async () => {
    const src = await folder({
      'test_clean.csv': header + rows.join(''),
      'images/PMC1_F1.jpg': png(1),
      'images/PMC2_F2.jpg': png(2),
      'figures/PMC3_F3.jpg': png(3),
      'PMC4_F4.jpg': png(4),
    });
    const res = await loadPmcVqa(src, { split: 'test' });
    invariants(res);
    expect(res.report.records).toBe(5);
    expect(res.items.length).toBe(2);
    const [a, b] = res.items;
    expect([a.question, a.options, a.answer_label, a.answer, a.dataset_name, a.source]).toEqual([
      'What is shown?',
      { A: 'CT scan', B: 'MRI', C: 'X-ray', D: 'Ultrasound' },
      'B',
      'MRI',
      'pmc_vqa',
      'test_clean.csv:2',
    ]);
    expect(a.images[0].name).toBe('images/PMC1_F1.jpg');
    expect(await a.images[0].load()).toEqual(png(1));
    expect([b.answer_label, b.source]).toEqual(['C', 'test_clean.csv:4']);
    expect(res.report.dropped.map((d) => [d.where, d.kind, d.reason])).toEqual([
      ['test_clean.csv:5', 'bad-input', 'gold "E" is not one of the options A, B, C, D'],
      ['test_clean.csv:6', 'missing-image', 'image not found: missing.jpg'],
      ['test_clean.csv:7', 'bad-input', '5 columns where the header has 9'],
    ]);
    await expect(loadPmcVqa(src, { onBad: 'stop' })).rejects.toThrow(/^test_clean\.csv:5: gold "E"/);
  });

  it('the train_2.csv layout with Answer_label', async () => {
    const src = await folder({
      'train_2.csv': 'Figure_path,Question,Answer,Choice A,Choice B,Choice C,Choice D,Answer_label\nf.png,Q?,MRI, A:CT, B:MRI, C:PET, D:US,B\n',
      'images/f.png': png(5),
    });
    const res = await loadPmcVqa(src, { split: 'train' });
    expect(res.items.map((x) => [x.answer_label, x.answer])).toEqual([['B', 'MRI']]);
  });

  it('a CSV with the wrong columns is an error naming the file and its header line', async () => {
    const src = new MemoryWorkspace('mem', { 'test_clean.csv': 'path,question,a,b\nx,y,z,w\n' });
    await expect(loadPmcVqa(src)).rejects.toThrow(
      /^mem\/test_clean\.csv:1: wrong columns: missing Figure_path, Choice A, Choice B, Answer_label or Answer \(found path, question, a, b\)$/,
    );
  });
});

describe('PathVQA parquet (Hugging Face layout)', () => {
  it('keeps the yes/no questions of the split, images embedded, open ones excluded', async () => {
    const img = png(7, 6, 3);
    const test = parquetFile([
      {
        name: 'image',
        schema: pq.image('image'),
        data: [
          { bytes: img, path: 'a.jpg' },
          { bytes: png(8), path: 'b.jpg' },
          { bytes: img, path: 'c.jpg' },
          { bytes: null, path: 'nowhere.jpg' },
          { bytes: img, path: 'e.jpg' },
        ],
      },
      { name: 'question', schema: pq.str('question'), data: ['Is there necrosis?', 'What stain is this?', 'Does this show fibrosis?', 'Is it benign?', null] },
      { name: 'answer', schema: pq.str('answer'), data: ['yes', 'h&e', 'No', 'no', 'yes'] },
    ]);
    const train = parquetFile([
      { name: 'image', schema: pq.image('image'), data: [{ bytes: img, path: 't.jpg' }] },
      { name: 'question', schema: pq.str('question'), data: ['Is it?'] },
      { name: 'answer', schema: pq.str('answer'), data: ['yes'] },
    ]);
    const src = await folder({ 'data/test-00000-of-00001.parquet': test, 'data/train-00000-of-00001.parquet': train });
    const res = await loadPathVqa(src, { split: 'test' });
    invariants(res);
    expect(res.report.records).toBe(5);
    expect(res.report.excluded).toEqual({ 'open question': 1 });
    expect(res.items.map((x) => [x.question, x.answer_label, x.dataset_name, x.dataset_index])).toEqual([
      ['Is there necrosis?', 'A', 'pathvqa_closed', 0],
      ['Does this show fibrosis?', 'B', 'pathvqa_closed', 2],
    ]);
    expect(res.items[0].options).toEqual({ A: 'Yes', B: 'No' });
    const bytes = await res.items[0].images[0].load();
    expect(bytes).toEqual(img);
    const dec = await decodeImage(bytes, { width: 4, height: 4 }, res.items[0].images[0].name);
    expect([dec.srcWidth, dec.srcHeight, dec.data.length]).toEqual([6, 3, 4 * 4 * 3]);
    expect(res.report.dropped.map((d) => [d.where, d.kind])).toEqual([
      ['data/test-00000-of-00001.parquet#3', 'missing-image'],
      ['data/test-00000-of-00001.parquet#4', 'bad-input'],
    ]);
    const tr = await loadPathVqa(src, { split: 'train' });
    expect(tr.items.map((x) => x.question)).toEqual(['Is it?']);
    await expect(loadPathVqa(src, { split: 'validation' })).rejects.toThrow(/no PathVQA parquet files for split "validation"/);
  });
});

describe('MedVLThinker-Eval parquet (schema §1, images embedded)', () => {
  const img1 = png(21),
    img2 = png(22, 3, 7);
  const file = () =>
    parquetFile([
      {
        name: 'images',
        schema: pq.imageList('images'),
        data: [
          [{ bytes: img1, path: 'x.jpg' }],
          [],
          [
            { bytes: img1, path: null },
            { bytes: img2, path: null },
          ],
          [{ bytes: img1, path: 'q' }],
          [{ bytes: img1, path: 'q' }],
          [{ bytes: null, path: 'gone.jpg' }],
        ],
      },
      {
        name: 'question',
        schema: pq.str('question'),
        data: ['Is this a CT or an MRI?', 'Which drug?', 'Compare the two images.', 'Broken options?', 'Gold outside?', 'No bytes?'],
      },
      {
        name: 'options',
        schema: pq.str('options'),
        data: [
          '{"A": "CT", "B": "MRI"}',
          '{"A": "aspirin", "B": "heparin", "C": "warfarin"}',
          '{"A": "same", "B": "different"}',
          'A: CT, B: MRI',
          '{"A": "x", "B": "y"}',
          '{"A": "x", "B": "y"}',
        ],
      },
      { name: 'answer_label', schema: pq.str('answer_label'), data: ['B', 'C', 'A', 'A', 'D', 'A'] },
      { name: 'answer', schema: pq.str('answer'), data: ['MRI', 'Warfarin ', 'same', 'CT', 'x', 'x'] },
      { name: 'dataset_name', schema: pq.str('dataset_name'), data: ['vqa_rad_closed', 'MMMU-medical', 'slake_closed', 'pmc_vqa', 'pmc_vqa', 'pmc_vqa'] },
      { name: 'dataset_index', schema: pq.int64('dataset_index'), data: [1921n, 7n, 3n, 4n, 5n, 6n] },
      { name: 'hash', schema: pq.str('hash'), data: [sha16('Is this a CT or an MRI?MRI'), 'feedfacefeedface', null, null, null, null] },
    ]);

  it('reads rows as items with their images, hash and index; reports the broken rows', async () => {
    const src = await folder({ 'data/test-00000-of-00001.parquet': file() });
    const res = await loadMedVlThinkerEval(src, {});
    expect(res.report.records).toBe(6);
    expect(res.report.in).toBe(res.report.out + res.report.dropped.length);
    const [a, b, c] = res.items;
    expect([a.question, a.options, a.answer_label, a.answer, a.dataset_name, a.dataset_index, a.hash]).toEqual([
      'Is this a CT or an MRI?',
      { A: 'CT', B: 'MRI' },
      'B',
      'MRI',
      'vqa_rad_closed',
      1921,
      sha16('Is this a CT or an MRI?MRI'),
    ]);
    expect(await a.images[0].load()).toEqual(img1);
    expect(b.images).toEqual([]);
    expect([b.answer, b.hash]).toEqual(['warfarin', 'feedfacefeedface']);
    expect(c.images.length).toBe(2);
    expect(await c.images[1].load()).toEqual(img2);
    expect(c.hash).toBe(sha16('Compare the two images.same'));
    expect(res.report.dropped.map((d) => [d.where, d.kind, d.reason])).toEqual([
      ['data/test-00000-of-00001.parquet#3', 'bad-input', 'row lacks question, options (a JSON object) or answer_label'],
      ['data/test-00000-of-00001.parquet#4', 'bad-input', 'gold letter "D" is not among the options A, B'],
      ['data/test-00000-of-00001.parquet#5', 'missing-image', 'image 0 has no embedded bytes'],
    ]);
    expect(res.report.notes).toEqual([
      '1 rows have an answer text that differs from options[answer_label]; the option text was used',
      '1 rows carry a hash that is not sha256(question + answer)[:16] of the loaded text; kept as given',
    ]);
  });

  it('selects benchmarks by dataset_name', async () => {
    const src = await folder({ 'test.parquet': file() });
    const res = await loadMedVlThinkerEval(src, { benchmarks: ['vqa_rad_closed', 'slake_closed'] });
    expect(res.items.map((x) => x.dataset_name)).toEqual(['vqa_rad_closed', 'slake_closed']);
    expect(res.report.excluded).toEqual({ 'benchmark MMMU-medical': 1, 'benchmark pmc_vqa': 3 });
  });

  it('a file that is not parquet, and a truncated one, are errors naming the file', async () => {
    const bytes = file();
    const src = await folder({ 'a/test.parquet': new TextEncoder().encode('question,answer\nq,a\n') });
    await expect(loadMedVlThinkerEval(src)).rejects.toThrow(/a\/test\.parquet: is not a parquet file/);
    const cut = new Uint8Array([...bytes.slice(0, 200), ...bytes.slice(bytes.length - 60)]);
    const src2 = await folder({ 'test.parquet': cut });
    await expect(loadMedVlThinkerEval(src2)).rejects.toThrow(/test\.parquet: cannot read the parquet/);
    expect(parquetColumns(bytes, 'x')).toEqual(['images', 'question', 'options', 'answer_label', 'answer', 'dataset_name', 'dataset_index', 'hash']);
  });
});

describe('generic loader (JSONL / CSV / parquet with a column mapping)', () => {
  it('JSONL with an options object, images by path; bad lines reported by line', async () => {
    const src = await folder({
      'set/data.jsonl': [
        JSON.stringify({ q: 'Q1?', opts: { A: 'one', B: 'two' }, gold: 'B', img: 'pics/1.png', why: 'because' }),
        '{not json',
        JSON.stringify({ q: 'Q3?', opts: { A: 'one', B: 'two' }, gold: 'two', img: 'pics/1.png' }),
        JSON.stringify({ q: 'Q4?', opts: {}, gold: 'A', img: 'pics/1.png' }),
        JSON.stringify({ q: 'Q5?', opts: { A: 'one' }, gold: 'C', img: 'pics/1.png' }),
        JSON.stringify({ q: 'Q6?', opts: { A: 'one' }, gold: 'A', img: 'pics/none.png' }),
        JSON.stringify({ q: 'Q7?', opts: { A: 'one' } }),
      ].join('\n'),
      'set/pics/1.png': png(31),
    });
    const res = await loadGeneric(src, {
      file: 'set/data.jsonl',
      datasetName: 'mine',
      split: 'test',
      columns: { question: 'q', options: 'opts', answerLabel: 'gold', image: 'img', reasoning: 'why' },
    });
    invariants(res);
    expect(res.items.map((x) => [x.question, x.answer_label, x.reasoning, x.images[0]?.name])).toEqual([
      ['Q1?', 'B', 'because', 'set/pics/1.png'],
      ['Q3?', 'B', undefined, 'set/pics/1.png'],
    ]);
    expect(res.report.dropped.map((d) => [d.where, d.kind, d.reason.replace(/ \(.*$/, '')])).toEqual([
      ['set/data.jsonl:2', 'bad-input', 'not valid JSON'],
      ['set/data.jsonl:4', 'bad-input', 'no options'],
      ['set/data.jsonl:5', 'bad-input', 'gold "C" is not one of the options A'],
      ['set/data.jsonl:6', 'missing-image', 'image not found: pics/none.png'],
      ['set/data.jsonl:7', 'bad-input', 'missing gold'],
    ]);
    await expect(
      loadGeneric(src, {
        file: 'set/data.jsonl',
        datasetName: 'mine',
        onBad: 'stop',
        columns: { question: 'q', options: 'opts', answerLabel: 'gold', image: 'img' },
      }),
    ).rejects.toThrow(/^set\/data\.jsonl:2: not valid JSON/);
  });

  it('CSV with one column per option (MedMCQA-like) and a 1-based answer column mapped by letter', async () => {
    const src = new MemoryWorkspace('mem', { 'x.csv': 'question,opa,opb,opc,label\n"Which, of these?",p,q,r,(b)\nNext?,p,q,,A\n' });
    const res = await loadGeneric(src, {
      file: 'x.csv',
      datasetName: 'csvset',
      columns: { question: 'question', optionColumns: ['opa', 'opb', 'opc'], answerLabel: 'label' },
    });
    expect(res.items.map((x) => [x.question, x.options, x.answer_label])).toEqual([
      ['Which, of these?', { A: 'p', B: 'q', C: 'r' }, 'B'],
      ['Next?', { A: 'p', B: 'q' }, 'A'],
    ]);
    await expect(
      loadGeneric(src, { file: 'x.csv', datasetName: 'csvset', columns: { question: 'question', options: 'choices', answerLabel: 'label' } }),
    ).rejects.toThrow(/^mem\/x\.csv: wrong columns: missing choices \(found question, opa, opb, opc, label\)/);
  });

  it('parquet, open-ended with closed conversion and embedded images', async () => {
    const img = png(41);
    const bytes = parquetFile([
      {
        name: 'img',
        schema: pq.image('img'),
        data: [
          { bytes: img, path: null },
          { bytes: img, path: null },
          { bytes: img, path: null },
        ],
      },
      { name: 'question', schema: pq.str('question'), data: ['Is this a CT or an MRI?', 'What organ?', 'Is it normal?'] },
      { name: 'answer', schema: pq.str('answer'), data: ['ct', 'liver', 'No'] },
    ]);
    const src = new MemoryWorkspace('mem', { 'd/test.parquet': bytes });
    const res = await loadGeneric(src, {
      file: 'd/test.parquet',
      datasetName: 'mine_closed',
      closed: true,
      columns: { question: 'question', answer: 'answer', image: 'img' },
    });
    invariants(res);
    expect(res.items.map((x) => [x.options, x.answer_label])).toEqual([
      [{ A: 'CT', B: 'MRI' }, 'A'],
      [{ A: 'Yes', B: 'No' }, 'B'],
    ]);
    expect(await res.items[0].images[0].load()).toEqual(img);
    expect(res.report.dropped.map((d) => [d.where, d.kind])).toEqual([['d/test.parquet#1', 'not-convertible']]);
  });

  it('rejects mappings it cannot use', async () => {
    const src = new MemoryWorkspace('mem', { 'a.txt': 'x' });
    await expect(loadGeneric(src, { file: 'a.txt', datasetName: 'd', columns: { question: 'q', options: 'o', answerLabel: 'a' } })).rejects.toThrow(
      /unknown format/,
    );
    await expect(loadGeneric(src, { file: 'a.jsonl', datasetName: 'd', columns: { question: 'q' } })).rejects.toThrow(/needs options or optionColumns/);
    await expect(loadGeneric(src, { file: 'a.jsonl', datasetName: 'd', columns: { question: 'q', options: 'o', answerLabel: 'a' } })).rejects.toThrow(
      /a\.jsonl: file not found/,
    );
  });
});

describe('bad input in the named loaders', () => {
  it('missing folder and missing files are errors that say what was looked for', async () => {
    await expect(loadVqaRad(nodeDirSource('/nonexistent/thinker-data'))).rejects.toThrow(/^\/nonexistent\/thinker-data: folder not found/);
    await expect(loadVqaRad(new MemoryWorkspace('empty'))).rejects.toThrow(/^empty: no VQA-RAD JSON found/);
    await expect(loadSlake(new MemoryWorkspace('s', { 'train.json': '[]' }), { split: 'test' })).rejects.toThrow(/no SLAKE test\.json found/);
    await expect(loadSlake(new MemoryWorkspace('s'), { split: 'dev2' })).rejects.toThrow(/unknown split "dev2"/);
  });

  it('VQA-RAD-format records: bad ones, missing images and a JSON that does not parse', async () => {
    const recs = [
      { qid: 0, phrase_type: 'test_freeform', image_name: 'a.jpg', question: 'Is it?', answer: 'Yes', answer_type: 'CLOSED' },
      { qid: 1, phrase_type: 'test_para', image_name: 'missing.jpg', question: 'Is it?', answer: 'No', answer_type: 'CLOSED' },
      { qid: 2, phrase_type: 'test_para', image_name: 'a.jpg', question: 'What?', answer: 'x', answer_type: 'OPEN' },
      { qid: 3, phrase_type: 'test_para', image_name: 'a.jpg', question: 'Odd?', answer: 'x', answer_type: 'MAYBE' },
      { qid: 4, phrase_type: 'freeform', image_name: 'a.jpg', question: 'Train?', answer: 'yes', answer_type: 'CLOSED ' },
    ];
    const src = new MemoryWorkspace('rad', { 'VQA_RAD Dataset Public.json': JSON.stringify(recs), 'images/a.jpg': png(51) });
    const res = await loadVqaRad(src);
    invariants(res);
    expect([res.report.records, res.report.in, res.report.out]).toEqual([4, 3, 1]);
    expect(res.report.dropped.map((d) => [d.where, d.kind])).toEqual([
      ['VQA_RAD Dataset Public.json[1]', 'missing-image'],
      ['VQA_RAD Dataset Public.json[3]', 'bad-input'],
    ]);
    const kept = await loadVqaRad(src, { missingImages: 'keep' });
    expect(kept.items.length).toBe(2);
    await expect(kept.items[1].images[0].load()).rejects.toThrow(/VQA_RAD Dataset Public\.json\[1\]: image missing\.jpg is missing/);
    const train = await loadVqaRad(src, { split: 'train' });
    expect(train.items.map((x) => x.question)).toEqual(['Train?']);

    const broken = new MemoryWorkspace('rad', { 'VQA_RAD Dataset Public.json': '[{"qid": 0,' });
    await expect(loadVqaRad(broken)).rejects.toThrow(/^rad\/VQA_RAD Dataset Public\.json: is not valid JSON/);
  });

  it('a corrupt image is caught when decoded, naming the image', async () => {
    const bad = png(61).slice(0, 40);
    const src = new MemoryWorkspace('rad', {
      'VQA_RAD Dataset Public.json': JSON.stringify([{ phrase_type: 'test', image_name: 'c.png', question: 'Is it?', answer: 'yes', answer_type: 'CLOSED' }]),
      'images/c.png': bad,
    });
    const { items } = await loadVqaRad(src);
    const ref = items[0].images[0];
    await expect(decodeImage(await ref.load(), { width: 8, height: 8 }, ref.name)).rejects.toThrow(/^images\/c\.png: cannot decode the PNG image/);
  });

  it('JSONL and CSV loaders: a bad line is skipped and reported, or stops the load', async () => {
    const mcq = new MemoryWorkspace('m', {
      'dev.json':
        '{"question":"q1","opa":"a","opb":"b","opc":"c","opd":"d","cop":2}\n{oops\n{"question":"q3","opa":"a","opb":"b","opc":"c","opd":"d","cop":5}\n',
    });
    const r1 = await loadMedMcqa(mcq);
    expect(r1.items.map((x) => x.answer_label)).toEqual(['B']);
    expect(r1.report.dropped.map((d) => [d.where, d.reason.slice(0, 14)])).toEqual([
      ['dev.json:2', 'not valid JSON'],
      ['dev.json:3', 'cop 5 is not 1'],
    ]);
    await expect(loadMedMcqa(mcq, { onBad: 'stop' })).rejects.toThrow(/^dev\.json:2: not valid JSON/);

    const medqa = new MemoryWorkspace('q', { 'test.jsonl': '{"question":"q","options":{"A":"x","B":"y"},"answer_idx":"C","answer":"z"}\n' });
    const r2 = await loadMedQa(medqa);
    expect(r2.report.dropped[0]).toMatchObject({ where: 'test.jsonl:1', kind: 'bad-input', reason: 'gold letter "C" is not among the options A, B' });

    const mmlu = new MemoryWorkspace('u', { 'anatomy_test.csv': 'q1,a,b,c,d,A\nq2,a,b,c,A\n"q3, with comma",a,b,c,d,E\n' });
    const r3 = await loadMmluMedical(mmlu, { subjects: ['anatomy'] });
    expect(r3.items.map((x) => x.question)).toEqual(['q1']);
    expect(r3.report.dropped.map((d) => [d.where, d.reason])).toEqual([
      ['anatomy_test.csv:2', 'expected 6 columns (question, A, B, C, D, answer), found 5'],
      ['anatomy_test.csv:3', 'gold letter "E" is not among the options A, B, C, D'],
    ]);
    const open = new MemoryWorkspace('u', { 'anatomy_test.csv': 'q1,a,b,c,d,A\n"q2,a,b\n' });
    await expect(loadMmluMedical(open, { subjects: ['anatomy'] })).rejects.toThrow(/^u\/anatomy_test\.csv:2: a quoted CSV field is never closed/);
  });
});
