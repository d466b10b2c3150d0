// The lab's data calls (src/lab/data.ts) in Node over a memory workspace: synth previews,
// importing the real VQA-RAD folder (counts checked against the raw JSON read here), stored items
// reading back, the InputErrors of bad imports, and pass-count curation with a scripted tiny model
// whose histogram and saved set are checked against its sampled answers.

import { describe, expect, it, beforeAll } from 'vitest';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { PNG } from 'pngjs';
import { InputError } from '../../src/engine/errors';
import { MemoryWorkspace, fileListSource } from '../../src/io/workspace';
import { generateSynth } from '../../src/data/synth';
import { loadVqaRad } from '../../src/data/loaders';
import { initWeights } from '../../src/model/model';
import { createLab } from '../../src/lab';
import { dataApi } from '../../src/lab/data';
import { progressReporter } from '../../src/util/progress';
import { writeModelFolder } from '../../src/io/hf-config';
import type { Progress } from '../../src/lab/api';
import { testGpu } from '../helpers/gpu';
import { DATA_DIR, HAS_DATA, NO_DATA_MESSAGE, parquetFile, pngFile, pq, realSource } from '../data/helpers';
import { scriptWeights, tinyConfig, tinyTokenizer } from '../eval/run-helpers';

const dec = new TextDecoder();
const synthOptions = { n: 6, kind: 'image' as const, level: 1 as const, seed: 11, split: 'train' as const, imageSize: 24 };

describe('previewItems of synth items', () => {
  it('pages through the generated set: requested count, the same items as the generator, PNGs of the synth size', async () => {
    const lab = createLab(new MemoryWorkspace(), testGpu);
    const want = await generateSynth(synthOptions);
    const page = await lab.previewItems({ kind: 'synth', options: synthOptions }, 2, 3);
    expect(page.total).toBe(6);
    expect(page.items).toHaveLength(3);
    page.items.forEach((v, i) => {
      expect([v.hash, v.question, v.answer_label, v.reasoning]).toEqual([
        want[2 + i].hash,
        want[2 + i].question,
        want[2 + i].answer_label,
        want[2 + i].reasoning,
      ]);
      expect(v.images).toHaveLength(1);
      expect(v.images[0].mime).toBe('image/png');
      const png = PNG.sync.read(Buffer.from(v.images[0].bytes));
      expect([png.width, png.height]).toEqual([24, 24]);
    });
    expect((await lab.previewItems({ kind: 'synth', options: synthOptions }, 5, 3)).items).toHaveLength(1);
    await expect(lab.previewItems({ kind: 'synth', options: { ...synthOptions, level: 4 as never } }, 0, 1)).rejects.toThrow(/level: must be 1, 2 or 3/);
    await expect(lab.previewItems({ kind: 'synth', options: synthOptions }, 0, 10_000)).rejects.toThrow(/at most 500/);
    await expect(lab.previewItems({ kind: 'dataset', name: 'nothing' }, 0, 1)).rejects.toThrow(/datasets\/nothing: no such dataset/);
  });
});

/** A VQA-RAD-shaped folder: two closed test questions, one open one, one closed train question. */
function miniVqaRad() {
  const img = pngFile(4, 4, new Uint8Array(64).fill(200));
  const rec = (i: number, phrase: string, type: string, q: string, a: string) => ({
    qid: i,
    phrase_type: phrase,
    answer_type: type,
    question: q,
    answer: a,
    image_name: 'a.png',
  });
  return new MemoryWorkspace('mini-vqa-rad', {
    'VQA_RAD Dataset Public.json': JSON.stringify([
      rec(0, 'test_freeform', 'CLOSED', 'Is there a fracture?', 'yes'),
      rec(1, 'test_para', 'OPEN', 'What organ?', 'liver'),
      rec(2, 'test_freeform', 'CLOSED', 'Is the liver enlarged?', 'no'),
      rec(3, 'freeform', 'CLOSED', 'Is this a CT?', 'yes'),
    ]),
    'images/a.png': img,
  });
}

describe('importing folders', () => {
  it('a named loader imports every split it finds; one shared image is stored once; preview reads them back', async () => {
    const ws = new MemoryWorkspace();
    const lab = createLab(ws, testGpu);
    const info = await dataApi(lab.context).importFrom({ name: 'mini', loader: 'vqa-rad' }, miniVqaRad());
    expect(info.source).toBe('vqa-rad');
    expect(info.splits).toEqual([
      { name: 'test', items: 2, withImages: 2 },
      { name: 'train', items: 1, withImages: 1 },
    ]);
    expect(info.dropped).toEqual({ 'excluded: open question': 1 });
    const images = (await ws.list()).filter((f) => f.startsWith('datasets/mini/images/'));
    expect(images).toHaveLength(1);
    expect(images[0]).toMatch(/^datasets\/mini\/images\/[0-9a-f]{16}-0\.png$/);
    const all = await lab.previewItems({ kind: 'dataset', name: 'mini' }, 0, 10);
    expect(all.items.map((v) => [v.split, v.question, v.options[v.answer_label]])).toEqual([
      ['test', 'Is there a fracture?', 'Yes'],
      ['test', 'Is the liver enlarged?', 'No'],
      ['train', 'Is this a CT?', 'Yes'],
    ]);
    expect(all.items.every((v) => v.images[0].bytes.length === miniVqaRad().files.get('images/a.png')!.length)).toBe(true);
    expect((await lab.previewItems({ kind: 'dataset', name: 'mini', split: 'train' }, 0, 10)).total).toBe(1);
    expect((await lab.previewItems({ kind: 'dataset', name: 'mini', limit: 2 }, 0, 10)).total).toBe(2);
    await expect(lab.previewItems({ kind: 'dataset', name: 'mini', split: 'dev' }, 0, 1)).rejects.toThrow(/no split "dev" \(it has test, train\)/);
  });

  it('files of a folder input (webkitRelativePath) import like a directory', async () => {
    const ws = new MemoryWorkspace();
    const lab = createLab(ws, testGpu);
    const files = [...miniVqaRad().files].map(([p, b]) => {
      const f = new File([b as Uint8Array<ArrayBuffer>], p.split('/').pop()!);
      Object.defineProperty(f, 'webkitRelativePath', { value: `picked/${p}` });
      return f;
    });
    const src = fileListSource(files);
    expect(src.name).toBe('picked');
    expect(await src.list()).toEqual(['VQA_RAD Dataset Public.json', 'images/a.png']);
    const info = await dataApi(lab.context).importFrom({ name: 'mini', loader: 'vqa_rad', splits: ['test'] }, src);
    expect(info.splits).toEqual([{ name: 'test', items: 2, withImages: 2 }]);
  });

  it('bad imports are InputErrors that write nothing: unknown loader, nothing usable, a taken name, a bad name, a bad mapping', async () => {
    const ws = new MemoryWorkspace();
    const lab = createLab(ws, testGpu);
    const attempt = (req: Parameters<ReturnType<typeof dataApi>['importFrom']>[0], src = miniVqaRad()) => dataApi(lab.context).importFrom(req, src);
    await expect(attempt({ name: 'x', loader: 'vqa-radd' })).rejects.toThrow(/unknown loader "vqa-radd" \(known: vqa-rad, slake/);
    const openOnly = new MemoryWorkspace('open-only', {
      'VQA_RAD Dataset Public.json': JSON.stringify([{ phrase_type: 'test', answer_type: 'OPEN', question: 'q', answer: 'a', image_name: 'a.png' }]),
    });
    await expect(attempt({ name: 'x', loader: 'vqa-rad' }, openOnly)).rejects.toThrow(/found no usable items here \(excluded: open question 1\)/);
    await expect(attempt({ name: 'x', loader: 'slake' })).rejects.toThrow(InputError);
    await expect(attempt({ name: '../x', loader: 'vqa-rad' })).rejects.toThrow(/name "..\/x" is not allowed/);
    await expect(attempt({ name: 'x', loader: 'csv', columns: { question: 'q' } })).rejects.toThrow(/no csv file in this folder/);
    await expect(attempt({ name: 'x', loader: 'jsonl', columns: { question: 'q', colour: 'c' } })).rejects.toThrow(/columns\.colour: unknown key/);
    expect(await ws.list()).toEqual([]);
    await attempt({ name: 'x', loader: 'vqa-rad' });
    await expect(attempt({ name: 'x', loader: 'vqa-rad' })).rejects.toThrow(/datasets\/x: a dataset of this name exists/);
  });

  it('a generic loader reads one data file through a column mapping', async () => {
    const lab = createLab(new MemoryWorkspace(), testGpu);
    const src = new MemoryWorkspace('csv-folder', {
      'qa.csv': 'q,a,b,gold\nWhich side?,left,right,B\nHow many?,one,two,A\nBroken?,yes,no,C\n',
    });
    const info = await dataApi(lab.context).importFrom(
      { name: 'mine', loader: 'csv', columns: { question: 'q', optionColumns: 'a,b', answerLabel: 'gold', split: 'test' } },
      src,
    );
    expect(info.splits).toEqual([{ name: 'test', items: 2, withImages: 0 }]);
    expect(info.dropped).toEqual({ 'bad-input': 1 });
    const page = await lab.previewItems({ kind: 'dataset', name: 'mine' }, 0, 5);
    expect(page.items.map((v) => [v.question, v.options, v.answer_label, v.answer])).toEqual([
      ['Which side?', { A: 'left', B: 'right' }, 'B', 'right'],
      ['How many?', { A: 'one', B: 'two' }, 'A', 'one'],
    ]);
  });
});

describe('importing a Hub dataset', () => {
  const img = (v: number) => pngFile(3, 3, new Uint8Array(36).fill(v));
  const recipeParquet = parquetFile([
    { name: 'images', schema: pq.imageList('images'), data: [[{ bytes: img(10), path: null }], [{ bytes: img(90), path: null }], []] },
    { name: 'question', schema: pq.str('question'), data: ['Is it left?', 'Is it right?', 'Which drug?'] },
    { name: 'options', schema: pq.str('options'), data: ['{"A": "Yes", "B": "No"}', '{"A": "Yes", "B": "No"}', '{"A": "warfarin", "B": "heparin"}'] },
    { name: 'answer_label', schema: pq.str('answer_label'), data: ['A', 'B', 'Z'] },
    { name: 'dataset_name', schema: pq.str('dataset_name'), data: ['vqa_rad_closed', 'slake_closed', 'medqa'] },
  ]);
  const otherParquet = parquetFile([{ name: 'text', schema: pq.str('text'), data: ['hello'] }]);
  /** A Hub that serves one repo's parquet listing and files (the API shapes src/data/hub.ts reads). */
  const fakeHub = (file: Uint8Array): typeof fetch =>
    (async (input: RequestInfo | URL) => {
      const url = String(input);
      if (url === 'https://hub.test/api/datasets/lab/evalset/parquet') return Response.json({ default: { test: ['https://hub.test/cdn/0.parquet'] } });
      if (url === 'https://hub.test/cdn/0.parquet')
        return new Response(file as Uint8Array<ArrayBuffer>, { headers: { 'content-length': String(file.length) } });
      return new Response('{"error": "Not Found"}', { status: 404 });
    }) as typeof fetch;
  const req = { name: 'hubset', repo: 'lab/evalset', split: 'test', endpoint: 'https://hub.test' };

  it('downloads a recipe-schema split with progress and stores its items with their embedded images', async () => {
    const ws = new MemoryWorkspace();
    const lab = createLab(ws, testGpu);
    const progress: Progress[] = [];
    const info = await dataApi(lab.context).importHubWith(req, (p) => progress.push(p), fakeHub(recipeParquet));
    expect(info).toMatchObject({ name: 'hubset', source: 'hub:lab/evalset', splits: [{ name: 'test', items: 2, withImages: 2 }], dropped: { 'bad-input': 1 } });
    expect(progress.some((p) => p.phase.startsWith('downloaded 1 of 1 files') && p.done === recipeParquet.length)).toBe(true);
    const page = await lab.previewItems({ kind: 'dataset', name: 'hubset' }, 0, 5);
    expect(page.items.map((v) => [v.question, v.answer, v.dataset_name])).toEqual([
      ['Is it left?', 'Yes', 'vqa_rad_closed'],
      ['Is it right?', 'No', 'slake_closed'],
    ]);
    expect(page.items.map((v) => v.images[0].bytes)).toEqual([img(10), img(90)]);
  });

  it('a parquet in another schema and an unreachable Hub are InputErrors that write nothing', async () => {
    const ws = new MemoryWorkspace();
    const data = dataApi(createLab(ws, testGpu).context);
    await expect(data.importHubWith(req, undefined, fakeHub(otherParquet))).rejects.toThrow(/has no question, options, answer_label column \(it has text\)/);
    const offline = (async () => {
      throw new TypeError('fetch failed');
    }) as typeof fetch;
    await expect(data.importHubWith(req, undefined, offline)).rejects.toThrow(/cannot reach https:\/\/hub\.test: you are offline/);
    await expect(data.importHubWith({ ...req, split: '../x' }, undefined, offline)).rejects.toThrow(/not a split name/);
    expect(await ws.list()).toEqual([]);
  });
});

describe.skipIf(!HAS_DATA)(`the real VQA-RAD folder (${HAS_DATA ? 'data present' : NO_DATA_MESSAGE})`, () => {
  const ws = new MemoryWorkspace();
  const lab = createLab(ws, testGpu);
  let raw: Record<string, unknown>[];

  beforeAll(async () => {
    raw = JSON.parse(await readFile(path.join(DATA_DIR, 'vqa-rad', 'VQA_RAD Dataset Public.json'), 'utf8'));
  });

  it('imports the 271 closed test items with their 145 images, reporting what was dropped, with progress', async () => {
    const progress: Progress[] = [];
    const info = await dataApi(lab.context).importFrom({ name: 'vqa-rad-test', loader: 'vqa-rad', splits: ['test'] }, realSource('vqa-rad'), (p) =>
      progress.push(p),
    );
    // Counted from the raw JSON: official test = phrase_type "test*"; closed = answer_type CLOSED; the loader
    // cannot turn one closed question into multiple choice (index 243, covered by the loader's own tests).
    const test = raw.filter((r) => String(r.phrase_type).startsWith('test'));
    const closed = raw.filter((r, i) => String(r.phrase_type).startsWith('test') && String(r.answer_type).trim().toUpperCase() === 'CLOSED' && i !== 243);
    expect(closed).toHaveLength(271);
    expect(info.splits).toEqual([{ name: 'test', items: 271, withImages: 271 }]);
    expect(info.dropped).toEqual({ 'not-convertible': 1, 'excluded: open question': test.length - 272 });
    const stored = (await ws.list()).filter((f) => f.startsWith('datasets/vqa-rad-test/images/'));
    expect(stored).toHaveLength(new Set(closed.map((r) => r.image_name)).size);
    let bytes = 0;
    for (const f of await ws.list())
      if (f.startsWith('datasets/vqa-rad-test/') && !f.endsWith('.complete') && !f.endsWith('dataset.json')) bytes += (await ws.size(f))!;
    expect(info.bytes).toBe(bytes);
    const last = progress[progress.length - 1];
    expect(last).toMatchObject({ done: 271, total: 271, etaSeconds: 0 });
    expect(progress.filter((p) => p.phase === last.phase).every((p, i, a) => i === 0 || p.done >= a[i - 1].done)).toBe(true);
  });

  it('lists it, pages its items with the source images byte for byte, and deletes it', async () => {
    const [info] = await lab.listDatasets();
    expect(info).toMatchObject({ name: 'vqa-rad-test', source: 'vqa-rad', splits: [{ name: 'test', items: 271, withImages: 271 }] });
    const ref = await loadVqaRad(realSource('vqa-rad'), { split: 'test' });
    const page = await lab.previewItems({ kind: 'dataset', name: 'vqa-rad-test' }, 100, 4);
    expect(page.total).toBe(271);
    for (const [i, v] of page.items.entries()) {
      const want = ref.items[100 + i];
      expect([v.question, v.options, v.answer_label, v.answer, v.hash, v.dataset_index, v.split]).toEqual([
        want.question,
        want.options,
        want.answer_label,
        want.answer,
        want.hash,
        want.dataset_index,
        'test',
      ]);
      const rec = raw[want.dataset_index] as { image_name: string };
      expect(v.images[0].mime).toBe('image/jpeg');
      expect(v.images[0].bytes).toEqual(new Uint8Array(await readFile(path.join(DATA_DIR, 'vqa-rad', 'images', rec.image_name))));
    }
    await lab.deleteDataset('vqa-rad-test');
    expect(await lab.listDatasets()).toEqual([]);
    expect((await ws.list()).filter((f) => f.startsWith('datasets/'))).toEqual([]);
    await expect(lab.deleteDataset('vqa-rad-test')).rejects.toThrow(/no such dataset/);
  });
});

describe('curation through the lab', () => {
  it('pass counts of a scripted tiny model: the histogram sums to the items, the saved set holds the kept ones in order', async () => {
    const ws = new MemoryWorkspace();
    const lab = createLab(ws, testGpu);
    const { bpe, tok } = tinyTokenizer();
    const cfg = tinyConfig(tok);
    const w = initWeights(cfg, 5);
    // Answers <think>x</think><answer>A</answer> or ...B... with probability 1/2 each at temperature 1,
    // so pass counts of 4 samples spread over the histogram.
    scriptWeights(cfg, w, tok, 0.5);
    await writeModelFolder(ws, 'models/tiny', cfg, w, {
      'tokenizer.json': JSON.stringify(bpe.tokenizerJson),
      'tokenizer_config.json': JSON.stringify(bpe.tokenizerConfig),
    });
    await dataApi(lab.context).importFrom({ name: 'mini', loader: 'vqa-rad' }, miniVqaRad());
    const data = { kind: 'dataset' as const, name: 'mini' };
    const settings = { k: 4, lo: 1, hi: 3, order: 'easy-to-hard' as const, seed: 42 };

    const progress: Progress[] = [];
    let refused: Promise<unknown> | null = null;
    // A second GPU job while curation holds the GPU is refused, not queued.
    const reply = await lab.curate({ model: 'models/tiny', data, settings, maxNewTokens: 8, saveAs: 'hard' }, (p) => {
      progress.push(p);
      refused ??= lab.scoreText('models/tiny', 'Is there a fracture?').then(
        () => 'it ran',
        (e: Error) => e.message,
      );
    });
    expect(await refused).toMatch(/the GPU is busy with curation/);
    expect(reply.total).toBe(3);
    expect(reply.histogram).toHaveLength(5);
    expect(reply.histogram.reduce((a, b) => a + b.items, 0)).toBe(3);
    for (const b of reply.histogram) expect(b.kept).toBe(b.pass_count >= 1 && b.pass_count <= 3 ? b.items : 0);
    expect(reply.kept).toBe(reply.histogram.reduce((a, b) => a + b.kept, 0));
    const sampling = progress.filter((p) => p.phase.startsWith('sampling'));
    expect(sampling[sampling.length - 1]).toMatchObject({ done: 3, total: 3 });

    expect(reply.kept).toBeGreaterThan(1);
    expect(reply.saved).toMatchObject({ name: 'hard', source: 'curated:mini', splits: [{ name: 'train', items: reply.kept, withImages: reply.kept }] });
    const rows = dec
      .decode(await ws.read('datasets/hard/train.jsonl'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows).toHaveLength(reply.kept);
    const mini = await lab.previewItems(data, 0, 10);
    for (const r of rows) {
      expect(r.pass_count >= 1 && r.pass_count <= 3).toBe(true);
      expect(mini.items.map((v) => v.hash)).toContain(r.hash);
      expect(r.images).toHaveLength(1);
    }
    for (let i = 1; i < rows.length; i++) expect(rows[i - 1].pass_count).toBeGreaterThanOrEqual(rows[i].pass_count);
    for (const b of reply.histogram) expect(rows.filter((r) => r.pass_count === b.pass_count)).toHaveLength(b.kept);
    expect((await lab.previewItems({ kind: 'dataset', name: 'hard' }, 0, 10)).total).toBe(reply.kept);

    // The same seed samples the same answers; a narrower window keeps only its bin.
    const narrow = await lab.curate({ model: 'models/tiny', data, settings: { ...settings, hi: 1 }, maxNewTokens: 8 });
    expect(narrow.histogram.map((b) => b.items)).toEqual(reply.histogram.map((b) => b.items));
    expect(narrow.kept).toBe(narrow.histogram[1].items);
    expect(narrow.saved).toBeUndefined();

    // Bad requests fail before any sampling; a cancelled job ends at its next check.
    await expect(lab.curate({ model: 'models/none', data, settings, maxNewTokens: 8 })).rejects.toThrow(/models\/none: no model here/);
    await expect(lab.curate({ model: 'models/tiny', data, settings: { ...settings, hi: 5 }, maxNewTokens: 8 })).rejects.toThrow(
      /hi \(5\) must not exceed k \(4\)/,
    );
    await expect(lab.curate({ model: 'models/tiny', data, settings, maxNewTokens: 8, saveAs: 'mini' })).rejects.toThrow(/a dataset of this name exists/);
    await expect(lab.curate({ model: 'models/tiny', data: { kind: 'dataset', name: 'gone' }, settings, maxNewTokens: 8 })).rejects.toThrow(
      /datasets\/gone: no such dataset/,
    );
    await expect(lab.curate({ model: 'models/tiny', data, settings, maxNewTokens: 8 }, () => void lab.cancel())).rejects.toThrow(/curation was cancelled/);
    expect(await lab.busy()).toBeNull();
  });
});

describe('progressReporter', () => {
  it('times a count that runs on across phases with one clock when asked, and restarts it per phase by default', async () => {
    const run = async (clock?: (p: Progress) => string) => {
      const out: Progress[] = [];
      const report = progressReporter((p) => out.push(p), 0, clock);
      report({ phase: 'evaluating a', done: 0, total: 4 });
      await new Promise((r) => setTimeout(r, 200));
      report({ phase: 'evaluating a', done: 2, total: 4 });
      report({ phase: 'evaluating b', done: 3, total: 4 });
      return out;
    };
    const perPhase = await run();
    const one = await run(() => 'evaluating');
    // Nothing is known before a first item is done.
    expect(perPhase[0].etaSeconds).toBeUndefined();
    // 2 of 4 in ~0.2 s: ~0.2 s left.
    expect(one[1].etaSeconds!).toBeGreaterThan(0.15);
    // One clock: 3 done in ~0.2 s leaves ~0.07 s; a clock restarted at b's start has no estimate, or ~0 s, for 1 left.
    expect(one[2].etaSeconds!).toBeGreaterThan(0.04);
    expect(perPhase[2].etaSeconds ?? 0).toBeLessThan(0.01);
  });
});
