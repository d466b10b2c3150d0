// The open-ended medical VQA sets, each from its own release: VQA-RAD (one JSON + images/),
// SLAKE 1.0 (train/validate/test JSON + imgs/), PathVQA (the Hugging Face parquet with embedded
// images). Only their closed questions become items, as multiple choice (closed.ts).

import { InputError } from '../../engine/errors';
import { joinWhere, type FileSource } from '../../io/files';
import { convertClosed } from '../closed';
import { cellImage, cellText, readParquetRows } from '../parquet';
import { Collector, type LoadResult } from '../report';
import { makeItem, type ImageRef } from '../../task/schema';
import { bytesRef, canonicalSplit, checkSplit, FileIndex, fileRef, missingRef, readJsonFile, type ImageLoadOptions } from './common';

interface ClosedRecord {
  question: string;
  gold: string;
  images: ImageRef[];
  /** Image names that were looked for and are not there. */
  missing: string[];
  index: number;
  where: string;
}

async function addClosed(col: Collector, r: ClosedRecord, datasetName: string, split: string, opts: ImageLoadOptions) {
  if (r.missing.length > 0 && (opts.missingImages ?? 'drop') === 'drop') {
    col.drop({ where: r.where, kind: 'missing-image', reason: `image not found: ${r.missing.join(', ')}`, question: r.question, answer: r.gold });
    return;
  }
  const conv = convertClosed(r.question, r.gold);
  if (!conv.ok) {
    col.drop({ where: r.where, kind: 'not-convertible', reason: conv.reason, question: r.question, answer: r.gold });
    return;
  }
  if (conv.match === 'prefix') col.report.prefixMatched = (col.report.prefixMatched ?? 0) + 1;
  col.add(
    await makeItem({
      images: r.images,
      question: r.question,
      options: conv.options,
      answer_label: conv.answer_label,
      dataset_name: datasetName,
      dataset_index: r.index,
      split,
      source: r.where,
    }),
    r.where,
  );
}

function noteKeptMissing(col: Collector, n: number) {
  if (n > 0) col.note(`${n} items kept although their images are missing (missingImages: keep)`);
}

const VQA_RAD_JSON = 'VQA_RAD Dataset Public.json';

/**
 * VQA-RAD: `VQA_RAD Dataset Public.json` and `images/`. Official test = `phrase_type` starting with
 * "test" (451 questions, 272 closed); the rest is train. Closed = `answer_type` CLOSED.
 */
export async function loadVqaRad(src: FileSource, opts: ImageLoadOptions = {}): Promise<LoadResult> {
  const split = canonicalSplit(opts.split, 'test');
  checkSplit('vqa-rad', split, ['test', 'train', 'all']);
  const files = await FileIndex.of(src);
  const jsonPath = files.require([VQA_RAD_JSON], /(^|\/)VQA_RAD[^/]*\.json$/i, 'VQA-RAD JSON');
  const data = await readJsonFile(src, jsonPath);
  if (!Array.isArray(data)) throw new InputError(joinWhere(src.name, jsonPath), 'expected a JSON array of questions');
  const col = new Collector('vqa-rad', split, src.name, opts);
  let keptMissing = 0;
  for (let i = 0; i < data.length && !col.full; i++) {
    const rec = data[i] as Record<string, unknown>;
    const where = `${jsonPath}[${i}]`;
    const phrase = String(rec?.phrase_type ?? '');
    const isTest = phrase.startsWith('test');
    if (split !== 'all' && isTest !== (split === 'test')) continue;
    col.record();
    const type = String(rec?.answer_type ?? '')
      .trim()
      .toUpperCase();
    const question = cellText(rec?.question);
    const gold = cellText(rec?.answer);
    if (type === 'OPEN') {
      col.exclude('open question');
      continue;
    }
    if (type !== 'CLOSED' || question === null || gold === null || typeof rec.image_name !== 'string') {
      col.drop({
        where,
        kind: 'bad-input',
        reason: `record lacks question, answer, image_name or a CLOSED/OPEN answer_type (got "${type}")`,
        question: question ?? undefined,
      });
      continue;
    }
    const imgPath = files.findImage(rec.image_name, ['images', '']);
    const missing = imgPath ? [] : [rec.image_name];
    if (!imgPath && opts.missingImages === 'keep') keptMissing++;
    const images = [imgPath ? fileRef(src, imgPath) : missingRef(rec.image_name, where)];
    await addClosed(col, { question, gold, images, missing, index: i, where }, 'vqa_rad_closed', isTest ? 'test' : 'train', opts);
  }
  noteKeptMissing(col, keptMissing);
  return col.finish();
}

export interface SlakeOptions extends ImageLoadOptions {
  /** Question language, `q_lang` ("en" or "zh"); default "en". */
  lang?: string;
}

/** SLAKE 1.0: `train.json`, `validate.json`, `test.json` and `imgs/xmlabN/source.jpg`. */
export async function loadSlake(src: FileSource, opts: SlakeOptions = {}): Promise<LoadResult> {
  let split = canonicalSplit(opts.split, 'test');
  if (split === 'validation' || split === 'validate') split = 'validate';
  checkSplit('slake', split, ['train', 'validate', 'test']);
  const lang = opts.lang ?? 'en';
  const files = await FileIndex.of(src);
  const jsonPath = files.require([`${split}.json`], new RegExp(`(^|/)${split}\\.json$`), `SLAKE ${split}.json`);
  const data = await readJsonFile(src, jsonPath);
  if (!Array.isArray(data)) throw new InputError(joinWhere(src.name, jsonPath), 'expected a JSON array of questions');
  const col = new Collector('slake', split, src.name, opts);
  let keptMissing = 0;
  for (let i = 0; i < data.length && !col.full; i++) {
    const rec = data[i] as Record<string, unknown>;
    const where = `${jsonPath}[${i}]`;
    col.record();
    if (rec?.q_lang !== lang) {
      col.exclude(`question language ${String(rec?.q_lang)}`);
      continue;
    }
    const type = String(rec.answer_type ?? '')
      .trim()
      .toUpperCase();
    if (type === 'OPEN') {
      col.exclude('open question');
      continue;
    }
    const question = cellText(rec.question);
    const gold = cellText(rec.answer);
    if (type !== 'CLOSED' || question === null || gold === null || typeof rec.img_name !== 'string') {
      col.drop({
        where,
        kind: 'bad-input',
        reason: `record lacks question, answer, img_name or a CLOSED/OPEN answer_type (got "${type}")`,
        question: question ?? undefined,
      });
      continue;
    }
    const imgPath = files.findImage(rec.img_name, ['imgs', '']);
    if (!imgPath && opts.missingImages === 'keep') keptMissing++;
    const images = [imgPath ? fileRef(src, imgPath) : missingRef(rec.img_name, where)];
    await addClosed(col, { question, gold, images, missing: imgPath ? [] : [rec.img_name], index: i, where }, 'slake_closed', split, opts);
  }
  noteKeptMissing(col, keptMissing);
  return col.finish();
}

/** The parquet shards of a split: `test.parquet`, `test-00000-of-00002.parquet`, `test/....parquet`. */
export function splitShards(files: string[], split: string): string[] {
  const names = split === 'validation' ? ['validation', 'val', 'valid', 'dev'] : [split];
  return files
    .filter((f) => {
      if (!f.endsWith('.parquet')) return false;
      const parts = f.split('/');
      const base = parts[parts.length - 1].replace(/\.parquet$/, '');
      return names.some((n) => base === n || base.startsWith(`${n}-`) || base.startsWith(`${n}_`) || parts.slice(0, -1).includes(n));
    })
    .sort();
}

/**
 * PathVQA from its Hugging Face parquet (`image` {bytes, path}, `question`, `answer`). Its closed
 * questions are the yes/no ones (3,362 in test); open ones are excluded by design.
 */
export async function loadPathVqa(src: FileSource, opts: ImageLoadOptions = {}): Promise<LoadResult> {
  const split = canonicalSplit(opts.split, 'test');
  checkSplit('pathvqa', split, ['train', 'validation', 'test']);
  const files = await FileIndex.of(src);
  const shards = splitShards(files.files, split);
  if (shards.length === 0) throw new InputError(src.name, `no PathVQA parquet files for split "${split}" (expected e.g. data/${split}-00000-of-00001.parquet)`);
  const col = new Collector('pathvqa', split, src.name, opts);
  let index = 0;
  let keptMissing = 0;
  for (const shard of shards) {
    if (col.full) break;
    const rows = await readParquetRows(await src.read(shard), joinWhere(src.name, shard));
    for (let r = 0; r < rows.length && !col.full; r++, index++) {
      const row = rows[r];
      const where = `${shard}#${r}`;
      col.record();
      const question = cellText(row.question);
      const gold = cellText(row.answer);
      if (question === null || gold === null) {
        col.drop({ where, kind: 'bad-input', reason: 'row lacks question or answer' });
        continue;
      }
      if (!/^(yes|no)$/i.test(gold.trim())) {
        col.exclude('open question');
        continue;
      }
      const img = cellImage(row.image);
      let images: ImageRef[];
      let missing: string[] = [];
      if (img?.bytes) images = [bytesRef(`${shard}#${r}`, img.bytes)];
      else {
        const p = img?.path ? files.findImage(img.path, ['', 'images']) : null;
        if (p) images = [fileRef(src, p)];
        else {
          missing = [img?.path ?? `(no image in row ${r})`];
          if (opts.missingImages === 'keep') keptMissing++;
          images = [missingRef(missing[0], where)];
        }
      }
      await addClosed(col, { question, gold, images, missing, index, where }, 'pathvqa_closed', split, opts);
    }
  }
  noteKeptMissing(col, keptMissing);
  return col.finish();
}
