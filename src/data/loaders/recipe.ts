// The recipe's item schema (recipe.md §1) as JSON lines: how the lab stores datasets, how curated
// and distilled sets leave it, and how the released datasets' JSONL reads in.
import { readText, type FileSource } from '../../io/files';
import { itemHash, makeItem, optionsJson, type ImageRef, type QAItem } from '../../task/schema';
import { parseJsonl } from '../csv';
import { Collector, type LoadOptions, type LoadResult } from '../report';
import { FileIndex, fileRef, missingRef, parseOptions } from './common';

/** One JSONL row in the recipe schema (§1), images as paths relative to the image root, plus the pass count. */
export function recipeRow(item: QAItem, passCount?: number | null): Record<string, unknown> {
  const row: Record<string, unknown> = {
    images: item.images.map((im) => im.name),
    question: item.question,
    options: optionsJson(item.options),
    answer_label: item.answer_label,
    answer: item.answer,
  };
  if (item.reasoning !== undefined) row.reasoning = item.reasoning;
  Object.assign(row, { dataset_name: item.dataset_name, dataset_index: item.dataset_index, hash: item.hash });
  if (item.split !== undefined) row.split = item.split;
  if (passCount !== undefined) row.pass_count = passCount;
  return row;
}

export interface RecipeJsonlOptions extends LoadOptions {
  /** Where image paths are resolved (default: `src`, relative to the file's folder or its root). */
  images?: FileSource;
}

/**
 * Read JSON lines in the recipe schema (as `recipeRow` writes them, or as the released datasets
 * store them without images): every bad line is dropped with its line number, or stops the read
 * in `onBad: 'stop'` mode.
 */
export async function loadRecipeJsonl(src: FileSource, file: string, o: RecipeJsonlOptions = {}): Promise<LoadResult> {
  const text = await readText(src, file);
  const col = new Collector('items', o.split ?? 'all', `${src.name.replace(/\/+$/, '')}/${file}`, o);
  const imgSrc = o.images ?? src;
  const dir = o.images ? '' : file.slice(0, Math.max(0, file.lastIndexOf('/')));
  let index: FileIndex | null = null;
  let hashDiffers = 0;
  for (const { line, value, error } of parseJsonl(text)) {
    if (col.full) break;
    const where = `${file}:${line}`;
    col.record();
    if (error) {
      col.drop({ where, kind: 'bad-input', reason: error });
      continue;
    }
    const r = value as Record<string, unknown>;
    if (!r || typeof r !== 'object' || Array.isArray(r)) {
      col.drop({ where, kind: 'bad-input', reason: 'line is not a JSON object' });
      continue;
    }
    if (typeof r.question !== 'string') {
      col.drop({ where, kind: 'bad-input', reason: '"question" must be a string' });
      continue;
    }
    const options = parseOptions(r.options);
    if (!options) {
      col.drop({ where, kind: 'bad-input', reason: '"options" must be an object of letter -> text (or its JSON string)', question: r.question });
      continue;
    }
    if (typeof r.answer_label !== 'string') {
      col.drop({ where, kind: 'bad-input', reason: '"answer_label" must be a string', question: r.question });
      continue;
    }
    const names = r.images === undefined || r.images === null ? [] : r.images;
    if (!Array.isArray(names) || !names.every((x) => typeof x === 'string')) {
      col.drop({ where, kind: 'bad-input', reason: '"images" must be a list of image paths', question: r.question });
      continue;
    }
    const images: ImageRef[] = [];
    const missing: string[] = [];
    if (names.length) index ??= await FileIndex.of(imgSrc);
    for (const n of names as string[]) {
      const p = index!.findImage(n, [dir, '']);
      if (p) images.push(fileRef(imgSrc, p));
      else {
        missing.push(n);
        images.push(missingRef(n, where));
      }
    }
    if (missing.length) {
      col.drop({ where, kind: 'missing-image', reason: `image not found: ${missing.join(', ')}`, question: r.question });
      continue;
    }
    const idx = typeof r.dataset_index === 'number' && Number.isFinite(r.dataset_index) ? r.dataset_index : line - 1;
    const item = await makeItem({
      images,
      question: r.question,
      options,
      answer_label: r.answer_label.trim(),
      reasoning: typeof r.reasoning === 'string' ? r.reasoning : undefined,
      dataset_name: typeof r.dataset_name === 'string' && r.dataset_name ? r.dataset_name : 'items',
      dataset_index: idx,
      split: typeof r.split === 'string' ? r.split : undefined,
      source: where,
      hash: typeof r.hash === 'string' && r.hash ? r.hash : undefined,
    });
    if (typeof r.answer === 'string' && item.answer !== undefined && r.answer.trim() !== item.answer.trim()) {
      col.drop({ where, kind: 'bad-input', reason: `answer "${r.answer}" differs from option ${item.answer_label} "${item.answer}"`, question: r.question });
      continue;
    }
    if (item.answer !== undefined && item.hash !== (await itemHash(item.question, item.answer))) hashDiffers++;
    col.add(item, where);
  }
  if (hashDiffers) col.note(`${hashDiffers} lines carry a hash that is not sha256(question + answer)[:16]; kept as given`);
  return col.finish();
}
