// Image multiple-choice sets: MedXpertQA MM (jsonl + images/), PMC-VQA (CSV + images/) and the
// paper's own evaluation set UCSC-VLAA/MedVLThinker-Eval (parquet, schema §1, images embedded).

import { InputError } from '../../engine/errors';
import { joinWhere, readText, type FileSource } from '../../io/files';
import { parseCsv, parseJsonl } from '../csv';
import { cellImage, cellText, readParquetRows } from '../parquet';
import { Collector, type LoadResult } from '../report';
import { itemHash, makeItem, type ImageRef } from '../../task/schema';
import { bytesRef, canonicalSplit, checkSplit, FileIndex, fileRef, goldLetter, missingRef, parseOptions, type ImageLoadOptions } from './common';
import { splitShards } from './vqa';

/** Resolve image names; those not found become failing refs and are listed in `missing`. */
function resolveImages(files: FileIndex, src: FileSource, names: string[], dirs: string[], where: string) {
  const images: ImageRef[] = [];
  const missing: string[] = [];
  for (const n of names) {
    const p = files.findImage(n, dirs);
    if (p) images.push(fileRef(src, p));
    else {
      missing.push(n);
      images.push(missingRef(n, where));
    }
  }
  return { images, missing };
}

/**
 * MedXpertQA MM: `{id, question, options: [{letter, content}], label: [letter], images: [{image_path}]}`
 * per line in `MM/<split>.jsonl` or `<split>.jsonl`; images under `images/`. The question text ends
 * with an "Answer Choices:" list, which is cut because the prompt lists the options itself. Items
 * whose images are absent are reported (and dropped unless missingImages is 'keep').
 */
export async function loadMedXpertQaMM(src: FileSource, opts: ImageLoadOptions = {}): Promise<LoadResult> {
  const split = canonicalSplit(opts.split, 'test');
  checkSplit('medxpertqa-mm', split, ['test', 'dev']);
  const files = await FileIndex.of(src);
  const path = files.require([`${split}.jsonl`, `MM/${split}.jsonl`], new RegExp(`(^|/)${split}\\.jsonl$`), `MedXpertQA MM ${split}.jsonl`);
  const col = new Collector('medxpertqa-mm', split, src.name, opts);
  let keptMissing = 0;
  for (const { line, value, error } of parseJsonl(await readText(src, path))) {
    if (col.full) break;
    const where = `${path}:${line}`;
    col.record();
    if (error) {
      col.drop({ where, kind: 'bad-input', reason: error });
      continue;
    }
    const rec = value as Record<string, unknown>;
    const options = parseOptions(rec?.options);
    if (typeof rec?.question !== 'string' || !options) {
      col.drop({ where, kind: 'bad-input', reason: 'line lacks question or options' });
      continue;
    }
    const label = goldLetter(rec.label, options);
    const question = rec.question.replace(/\s*\n\s*Answer Choices:[\s\S]*$/, '').trim();
    const names = Array.isArray(rec.images)
      ? rec.images.map((im) => (typeof im === 'string' ? im : String((im as Record<string, unknown>)?.image_path ?? '')))
      : [];
    const { images, missing } = resolveImages(files, src, names, ['images', 'MM/images', ''], where);
    if (missing.length) {
      if ((opts.missingImages ?? 'drop') === 'drop') {
        col.drop({ where, kind: 'missing-image', reason: `image not found: ${missing.join(', ')}`, question });
        continue;
      }
      keptMissing++;
    }
    if (!label) {
      col.drop({
        where,
        kind: 'bad-input',
        reason: `label ${JSON.stringify(rec.label)} is not one of the options ${Object.keys(options).join(', ')}`,
        question,
      });
      continue;
    }
    col.add(
      await makeItem({ images, question, options, answer_label: label, dataset_name: 'MedXpertQA-MM', dataset_index: line - 1, split, source: where }),
      where,
    );
  }
  if (keptMissing) col.note(`${keptMissing} items kept although their images are missing (missingImages: keep)`);
  return col.finish();
}

const PMC_FILES: Record<string, string[]> = {
  test: ['test_clean.csv', 'test_2.csv', 'test.csv'],
  train: ['train_2.csv', 'train.csv'],
};

/**
 * PMC-VQA: `test_clean.csv` (or train_2.csv...) with columns Figure_path, Question, Choice A-D and
 * the gold as Answer_label or Answer (a letter, or "B:text"); choices look like "A:text". Images
 * are looked up by Figure_path under `images/`, `figures/` or anywhere by file name.
 */
export async function loadPmcVqa(src: FileSource, opts: ImageLoadOptions & { file?: string } = {}): Promise<LoadResult> {
  const split = canonicalSplit(opts.split, 'test');
  checkSplit('pmc-vqa', split, ['test', 'train']);
  const files = await FileIndex.of(src);
  const path = opts.file ?? files.require(PMC_FILES[split], undefined, `PMC-VQA ${split} CSV`);
  const where0 = joinWhere(src.name, path);
  const recs = parseCsv(await readText(src, path), where0);
  if (recs.length === 0) throw new InputError(where0, 'is empty');
  const header = recs[0].fields.map((h) => h.trim());
  const col_ = (name: string) => header.findIndex((h) => h.toLowerCase() === name.toLowerCase());
  const need = ['Figure_path', 'Question', 'Choice A', 'Choice B'];
  const missingCols = need.filter((n) => col_(n) < 0);
  const goldCol = col_('Answer_label') >= 0 ? col_('Answer_label') : col_('Answer');
  if (missingCols.length || goldCol < 0) {
    throw new InputError(
      `${where0}:${recs[0].line}`,
      `wrong columns: missing ${[...missingCols, ...(goldCol < 0 ? ['Answer_label or Answer'] : [])].join(', ')} (found ${header.join(', ')})`,
    );
  }
  const choiceCols = ['A', 'B', 'C', 'D', 'E', 'F'].map((l) => [l, col_(`Choice ${l}`)] as const).filter(([, i]) => i >= 0);
  const col = new Collector('pmc-vqa', split, src.name, opts);
  let keptMissing = 0;
  for (let r = 1; r < recs.length && !col.full; r++) {
    const { line, fields } = recs[r];
    const where = `${path}:${line}`;
    col.record();
    if (fields.length !== header.length) {
      col.drop({ where, kind: 'bad-input', reason: `${fields.length} columns where the header has ${header.length}` });
      continue;
    }
    const options: Record<string, string> = {};
    for (const [l, i] of choiceCols) {
      const t = fields[i]
        .trim()
        .replace(new RegExp(`^${l}\\s*:\\s*`), '')
        .trim();
      if (t !== '') options[l] = t;
    }
    const question = fields[col_('Question')].trim();
    const label = goldLetter(fields[goldCol], options);
    const fig = fields[col_('Figure_path')].trim();
    const { images, missing } = resolveImages(files, src, [fig], ['images', 'figures', ''], where);
    if (missing.length) {
      if ((opts.missingImages ?? 'drop') === 'drop') {
        col.drop({ where, kind: 'missing-image', reason: `image not found: ${fig}`, question });
        continue;
      }
      keptMissing++;
    }
    if (!label) {
      col.drop({
        where,
        kind: 'bad-input',
        reason: `gold ${JSON.stringify(fields[goldCol])} is not one of the options ${Object.keys(options).join(', ')}`,
        question,
      });
      continue;
    }
    col.add(await makeItem({ images, question, options, answer_label: label, dataset_name: 'pmc_vqa', dataset_index: r - 1, split, source: where }), where);
  }
  if (keptMissing) col.note(`${keptMissing} items kept although their images are missing (missingImages: keep)`);
  return col.finish();
}

export interface MedVlThinkerEvalOptions extends ImageLoadOptions {
  /** Keep only rows of these `dataset_name`s (e.g. ["vqa_rad_closed"]); others are excluded by design. */
  benchmarks?: string[];
}

/**
 * UCSC-VLAA/MedVLThinker-Eval as parquet (split `test`): columns of schema §1 with `images` as a
 * list of {bytes, path} and `options` as a JSON object string.
 */
export async function loadMedVlThinkerEval(src: FileSource, opts: MedVlThinkerEvalOptions = {}): Promise<LoadResult> {
  const split = canonicalSplit(opts.split, 'test');
  const files = await FileIndex.of(src);
  const shards = splitShards(files.files, split);
  if (shards.length === 0)
    throw new InputError(src.name, `no MedVLThinker-Eval parquet files for split "${split}" (expected e.g. data/${split}-00000-of-00001.parquet)`);
  const col = new Collector('medvlthinker-eval', split, src.name, opts);
  const wanted = opts.benchmarks ? new Set(opts.benchmarks) : null;
  let fixedAnswer = 0;
  let hashDiffers = 0;
  let index = 0;
  for (const shard of shards) {
    if (col.full) break;
    const rows = await readParquetRows(await src.read(shard), joinWhere(src.name, shard));
    for (let r = 0; r < rows.length && !col.full; r++, index++) {
      const row = rows[r];
      const where = `${shard}#${r}`;
      col.record();
      const name = cellText(row.dataset_name) ?? '';
      if (wanted && !wanted.has(name)) {
        col.exclude(`benchmark ${name || '(none)'}`);
        continue;
      }
      const question = cellText(row.question);
      const options = parseOptions(cellText(row.options) ?? row.options);
      const label = cellText(row.answer_label)?.trim() ?? '';
      if (question === null || !options || !label) {
        col.drop({ where, kind: 'bad-input', reason: 'row lacks question, options (a JSON object) or answer_label', question: question ?? undefined });
        continue;
      }
      const rawImages = Array.isArray(row.images) ? row.images : row.images ? [row.images] : row.image ? [row.image] : [];
      const images: ImageRef[] = [];
      let bad = '';
      rawImages.forEach((cell, k) => {
        const img = cellImage(cell);
        if (img?.bytes) images.push(bytesRef(`${shard}#${r}/${k}`, img.bytes));
        else bad = `image ${k} has no embedded bytes`;
      });
      if (bad) {
        col.drop({ where, kind: 'missing-image', reason: bad, question });
        continue;
      }
      const answer = cellText(row.answer);
      if (answer !== null && options[label] !== undefined && answer.trim() !== options[label].trim()) fixedAnswer++;
      const reasoning = cellText(row.reasoning) ?? undefined;
      const idx = Number(cellText(row.dataset_index) ?? index);
      const item = await makeItem({
        images,
        question,
        options,
        answer_label: label,
        reasoning,
        dataset_name: name || 'medvlthinker-eval',
        dataset_index: Number.isFinite(idx) ? idx : index,
        split: cellText(row.split) ?? split,
        source: where,
        hash: cellText(row.hash) ?? undefined,
      });
      if (item.answer !== undefined && item.hash !== (await itemHash(item.question, item.answer))) hashDiffers++;
      col.add(item, where);
    }
  }
  if (fixedAnswer) col.note(`${fixedAnswer} rows have an answer text that differs from options[answer_label]; the option text was used`);
  if (hashDiffers) col.note(`${hashDiffers} rows carry a hash that is not sha256(question + answer)[:16] of the loaded text; kept as given`);
  return col.finish();
}
