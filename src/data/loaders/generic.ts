// Any other dataset: a JSONL, JSON-array, CSV or parquet file plus a mapping from its columns to the
// item fields. Multiple-choice data maps an options column (or one column per option); open-ended
// VQA data maps question + answer and sets `closed` to keep its closed questions as multiple choice.

import { InputError } from '../../engine/errors';
import { joinWhere, readText, type FileSource } from '../../io/files';
import { convertClosed } from '../closed';
import { parseCsv, parseJsonl } from '../csv';
import { cellImage, cellText, parquetColumns, readParquetRows } from '../parquet';
import { Collector, type LoadResult } from '../report';
import { LETTERS, makeItem, type ImageRef } from '../../task/schema';
import { bytesRef, FileIndex, fileRef, goldLetter, missingRef, parseOptions, type ImageLoadOptions } from './common';

export interface ColumnMapping {
  question: string;
  /** One column holding all options: a letter-keyed object or its JSON text, a list of texts, or a
   * list of {letter, content}. */
  options?: string;
  /** One column per option, in letter order (["opa", "opb", ...]) or by letter ({A: "Choice A"}). */
  optionColumns?: string[] | Record<string, string>;
  /** The gold letter ("B", "(B)", "B: text") or, failing that, the gold option text. */
  answerLabel?: string;
  /** The gold answer text: matched against the options, or the closed answer when `closed` is set. */
  answer?: string;
  /** Image column: a path relative to the data file's folder or `imageDir`, or embedded {bytes, path}. */
  image?: string;
  /** Column with a list of images (paths or embedded). */
  images?: string;
  reasoning?: string;
  index?: string;
}

export interface GenericOptions extends ImageLoadOptions {
  /** The data file inside the source. */
  file: string;
  format?: 'jsonl' | 'json' | 'csv' | 'parquet';
  columns: ColumnMapping;
  datasetName: string;
  /** Open-ended question + answer -> multiple choice by the closed-question rule; non-closed answers are dropped as not convertible. */
  closed?: boolean;
  /** Folder (inside the source) that image paths are relative to; default the data file's folder. */
  imageDir?: string;
  /** CSV only: the first record names the columns (default true); without it columns are "0", "1", ... */
  header?: boolean;
}

type Row = Record<string, unknown>;

function formatOf(file: string): GenericOptions['format'] {
  const ext = file.toLowerCase().replace(/^.*\./, '');
  if (ext === 'jsonl' || ext === 'ndjson') return 'jsonl';
  if (ext === 'json') return 'json';
  if (ext === 'csv' || ext === 'tsv') return 'csv';
  if (ext === 'parquet') return 'parquet';
  return undefined;
}

function mappedColumns(m: ColumnMapping): string[] {
  const cols = [m.question, m.options, m.answerLabel, m.answer, m.image, m.images, m.reasoning, m.index];
  if (Array.isArray(m.optionColumns)) cols.push(...m.optionColumns);
  else if (m.optionColumns) cols.push(...Object.values(m.optionColumns));
  return cols.filter((c): c is string => typeof c === 'string');
}

async function readRows(
  src: FileSource,
  opts: GenericOptions,
): Promise<{ rows: { row: Row | null; where: string; error?: string }[]; columns: string[] | null }> {
  const format = opts.format ?? formatOf(opts.file);
  const where0 = joinWhere(src.name, opts.file);
  if (!format) throw new InputError(where0, 'unknown format: give format jsonl, json, csv or parquet');
  if (format === 'parquet') {
    const bytes = await src.read(opts.file);
    const columns = parquetColumns(bytes, where0);
    const rows = await readParquetRows(bytes, where0);
    return { rows: rows.map((row, r) => ({ row, where: `${opts.file}#${r}` })), columns };
  }
  const text = await readText(src, opts.file);
  if (format === 'jsonl') {
    return {
      rows: parseJsonl(text).map(({ line, value, error }) => ({
        row: value && typeof value === 'object' && !Array.isArray(value) ? (value as Row) : null,
        where: `${opts.file}:${line}`,
        error: error ?? (value && typeof value === 'object' && !Array.isArray(value) ? undefined : 'line is not a JSON object'),
      })),
      columns: null,
    };
  }
  if (format === 'json') {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (e) {
      throw new InputError(where0, `is not valid JSON: ${(e as Error).message}`);
    }
    if (!Array.isArray(data)) throw new InputError(where0, 'expected a JSON array of records');
    return {
      rows: data.map((v, i) => ({
        row: v && typeof v === 'object' ? (v as Row) : null,
        where: `${opts.file}[${i}]`,
        error: v && typeof v === 'object' ? undefined : 'record is not an object',
      })),
      columns: null,
    };
  }
  const recs = parseCsv(text, where0, opts.file.toLowerCase().endsWith('.tsv') ? '\t' : ',');
  const header = opts.header ?? true;
  if (header && recs.length === 0) throw new InputError(where0, 'is empty (no header)');
  const names = header ? recs[0].fields.map((h) => h.trim()) : (recs[0]?.fields ?? []).map((_, i) => String(i));
  const body = header ? recs.slice(1) : recs;
  return {
    rows: body.map(({ line, fields }) => {
      const where = `${opts.file}:${line}`;
      if (fields.length !== names.length)
        return { row: null, where, error: `${fields.length} columns where the ${header ? 'header has' : 'first record has'} ${names.length}` };
      const row: Row = {};
      names.forEach((n, i) => {
        row[n] = fields[i];
      });
      return { row, where };
    }),
    columns: names,
  };
}

/** Load items from one file through a column mapping. */
export async function loadGeneric(src: FileSource, opts: GenericOptions): Promise<LoadResult> {
  const m = opts.columns;
  if (!m?.question) throw new InputError(opts.datasetName, 'the column mapping needs a question column');
  if (!opts.closed && !m.options && !m.optionColumns)
    throw new InputError(opts.datasetName, 'the column mapping needs options or optionColumns (or closed: true for open-ended data)');
  if (!opts.closed && !m.answerLabel && !m.answer) throw new InputError(opts.datasetName, 'the column mapping needs answerLabel or answer');
  if (opts.closed && !m.answer) throw new InputError(opts.datasetName, 'closed conversion needs the answer column');
  const { rows, columns } = await readRows(src, opts);
  if (columns) {
    const absent = mappedColumns(m).filter((c) => !columns.includes(c));
    if (absent.length) throw new InputError(joinWhere(src.name, opts.file), `wrong columns: missing ${absent.join(', ')} (found ${columns.join(', ')})`);
  }
  // Per record only what an item cannot do without; reasoning, index and images may be absent
  // (a record without an image is a text-only item).
  const rowRequired = [m.question, ...(m.options ? [m.options] : []), ...(m.answerLabel ? [m.answerLabel] : [m.answer!])];
  const files = m.image || m.images ? await FileIndex.of(src) : null;
  const dir = opts.imageDir ?? opts.file.slice(0, Math.max(0, opts.file.lastIndexOf('/')));
  const split = opts.split ?? 'all';
  const col = new Collector(opts.datasetName, split, joinWhere(src.name, opts.file), opts);
  let keptMissing = 0;
  for (let r = 0; r < rows.length && !col.full; r++) {
    const { row, where, error } = rows[r];
    col.record();
    if (!row) {
      col.drop({ where, kind: 'bad-input', reason: error ?? 'not a record' });
      continue;
    }
    const absent = rowRequired.filter((c) => !(c in row) || row[c] === null || row[c] === undefined);
    if (absent.length) {
      col.drop({ where, kind: 'bad-input', reason: `missing ${absent.join(', ')}` });
      continue;
    }
    const question = cellText(row[m.question]);
    if (question === null || question.trim() === '') {
      col.drop({ where, kind: 'bad-input', reason: `empty ${m.question}` });
      continue;
    }

    // Images: paths resolved in the source, or embedded bytes.
    const cells: unknown[] = m.images
      ? Array.isArray(row[m.images])
        ? (row[m.images] as unknown[])
        : parseList(row[m.images])
      : m.image && row[m.image] !== null && row[m.image] !== undefined && row[m.image] !== ''
        ? [row[m.image]]
        : [];
    const images: ImageRef[] = [];
    const missing: string[] = [];
    cells.forEach((cell, k) => {
      const img = cellImage(cell);
      const path = typeof cell === 'string' ? cell : (img?.path ?? null);
      if (img?.bytes) {
        images.push(bytesRef(`${where}/${k}`, img.bytes));
        return;
      }
      const p = path && files ? files.findImage(path, [dir, '']) : null;
      if (p) images.push(fileRef(src, p));
      else {
        missing.push(path ?? `(image ${k})`);
        images.push(missingRef(path ?? `image ${k}`, where));
      }
    });
    if (missing.length) {
      if ((opts.missingImages ?? 'drop') === 'drop') {
        col.drop({ where, kind: 'missing-image', reason: `image not found: ${missing.join(', ')}`, question });
        continue;
      }
      keptMissing++;
    }

    const reasoning = m.reasoning ? (cellText(row[m.reasoning]) ?? undefined) : undefined;
    const idxCell = m.index ? Number(cellText(row[m.index])) : NaN;
    const dataset_index = Number.isFinite(idxCell) ? idxCell : r;
    let options: Record<string, string> | null;
    let label: string | null;
    if (opts.closed && !m.options && !m.optionColumns) {
      const gold = cellText(row[m.answer!]) ?? '';
      const conv = convertClosed(question, gold);
      if (!conv.ok) {
        col.drop({ where, kind: 'not-convertible', reason: conv.reason, question, answer: gold });
        continue;
      }
      if (conv.match === 'prefix') col.report.prefixMatched = (col.report.prefixMatched ?? 0) + 1;
      options = conv.options;
      label = conv.answer_label;
    } else {
      if (m.options) options = parseOptions(cellText(row[m.options]) ?? row[m.options]);
      else if (Array.isArray(m.optionColumns)) {
        options = {};
        m.optionColumns.forEach((c, i) => {
          const t = cellText(row[c]);
          if (t !== null && t.trim() !== '') options![LETTERS[i]] = t;
        });
      } else {
        options = {};
        for (const [l, c] of Object.entries(m.optionColumns!)) {
          const t = cellText(row[c]);
          if (t !== null && t.trim() !== '') options[l] = t;
        }
      }
      if (!options || Object.keys(options).length === 0) {
        col.drop({ where, kind: 'bad-input', reason: 'no options', question });
        continue;
      }
      const goldCell = m.answerLabel ? row[m.answerLabel] : row[m.answer!];
      label = goldLetter(cellText(goldCell) ?? goldCell, options);
      if (!label && m.answerLabel && m.answer) label = goldLetter(cellText(row[m.answer]), options);
      if (!label) {
        col.drop({
          where,
          kind: 'bad-input',
          reason: `gold ${JSON.stringify(cellText(goldCell))} is not one of the options ${Object.keys(options).join(', ')}`,
          question,
        });
        continue;
      }
    }
    col.add(
      await makeItem({ images, question, options, answer_label: label, reasoning, dataset_name: opts.datasetName, dataset_index, split, source: where }),
      where,
    );
  }
  if (keptMissing) col.note(`${keptMissing} items kept although their images are missing (missingImages: keep)`);
  return col.finish();
}

/** A CSV cell holding a list of paths: JSON ["a.jpg", ...] or "a.jpg;b.jpg". */
function parseList(v: unknown): unknown[] {
  if (v === null || v === undefined || v === '') return [];
  const s = cellText(v);
  if (s === null) return [v];
  const t = s.trim();
  if (t.startsWith('[')) {
    try {
      const a = JSON.parse(t);
      if (Array.isArray(a)) return a;
    } catch {
      /* fall through to a separator list */
    }
  }
  return t
    .split(/[;|]/)
    .map((x) => x.trim())
    .filter((x) => x !== '');
}
