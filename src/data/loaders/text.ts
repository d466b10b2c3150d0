// Text-only medical multiple-choice sets from their own releases: MedQA (jsonl), MedMCQA (jsonl),
// PubMedQA (ori_pqal.json + test ids) and the medical subjects of MMLU (headerless CSVs).

import { InputError } from '../../engine/errors';
import { joinWhere, readText, type FileSource } from '../../io/files';
import { parseCsv, parseJsonl } from '../csv';
import { Collector, type LoadOptions, type LoadResult } from '../report';
import { makeItem } from '../../task/schema';
import { canonicalSplit, checkSplit, FileIndex, parseOptions, readJsonFile } from './common';

async function jsonlRecords(src: FileSource, path: string) {
  return parseJsonl(await readText(src, path));
}

/** MedQA (USMLE): `{question, options: {A..}, answer, answer_idx}` per line; file `<split>.jsonl`. */
export async function loadMedQa(src: FileSource, opts: LoadOptions = {}): Promise<LoadResult> {
  const split = canonicalSplit(opts.split, 'test');
  checkSplit('medqa', split, ['train', 'validation', 'dev', 'test']);
  const files = await FileIndex.of(src);
  const names = split === 'validation' || split === 'dev' ? ['dev', 'validation', 'val'] : [split];
  const path = files.require(
    names.map((n) => `${n}.jsonl`),
    new RegExp(`(^|[/_])(${names.join('|')})\\.jsonl$`),
    `MedQA ${split} jsonl`,
  );
  const col = new Collector('medqa', split, src.name, opts);
  let disagree = 0;
  for (const { line, value, error } of await jsonlRecords(src, path)) {
    if (col.full) break;
    const where = `${path}:${line}`;
    col.record();
    if (error) {
      col.drop({ where, kind: 'bad-input', reason: error });
      continue;
    }
    const rec = value as Record<string, unknown>;
    const options = parseOptions(rec?.options);
    const label = typeof rec?.answer_idx === 'string' ? rec.answer_idx.trim() : '';
    if (typeof rec?.question !== 'string' || !options || !label) {
      col.drop({ where, kind: 'bad-input', reason: 'line lacks question, options or answer_idx' });
      continue;
    }
    if (typeof rec.answer === 'string' && options[label] !== undefined && rec.answer.trim() !== options[label].trim()) disagree++;
    col.add(
      await makeItem({
        images: [],
        question: rec.question,
        options,
        answer_label: label,
        dataset_name: 'medqa',
        dataset_index: line - 1,
        split,
        source: where,
      }),
      where,
    );
  }
  if (disagree) col.note(`${disagree} lines have an "answer" text that differs from options[answer_idx]; answer_idx was used`);
  return col.finish();
}

export interface MedMcqaOptions extends LoadOptions {
  /** What `cop` counts from: 1 in the original release (1-4 = A-D), 0 in the Hugging Face copy. */
  copBase?: 0 | 1;
}

/** MedMCQA: `{question, opa..opd, cop}` per line; file `<split>.jsonl` or `<split>.json` (dev = validation). */
export async function loadMedMcqa(src: FileSource, opts: MedMcqaOptions = {}): Promise<LoadResult> {
  let split = canonicalSplit(opts.split, 'dev');
  if (split === 'validation') split = 'dev';
  checkSplit('medmcqa', split, ['train', 'dev', 'test']);
  const base = opts.copBase ?? 1;
  const files = await FileIndex.of(src);
  const path = files.require([`${split}.jsonl`, `${split}.json`], new RegExp(`(^|/)${split}\\.jsonl?$`), `MedMCQA ${split} file`);
  const col = new Collector('medmcqa', split, src.name, opts);
  for (const { line, value, error } of await jsonlRecords(src, path)) {
    if (col.full) break;
    const where = `${path}:${line}`;
    col.record();
    if (error) {
      col.drop({ where, kind: 'bad-input', reason: error });
      continue;
    }
    const rec = value as Record<string, unknown>;
    const texts = ['opa', 'opb', 'opc', 'opd'].map((k) => rec?.[k]);
    if (typeof rec?.question !== 'string' || texts.some((t) => typeof t !== 'string')) {
      col.drop({ where, kind: 'bad-input', reason: 'line lacks question or one of opa, opb, opc, opd' });
      continue;
    }
    const cop = rec.cop;
    if (typeof cop !== 'number' || !Number.isInteger(cop) || cop < base || cop > base + 3) {
      col.drop({
        where,
        kind: 'bad-input',
        reason: `cop ${JSON.stringify(cop)} is not ${base}-${base + 3}${cop === 0 && base === 1 ? ' (a 0-based copy? use copBase 0)' : ''}`,
        question: rec.question,
      });
      continue;
    }
    const options = { A: texts[0] as string, B: texts[1] as string, C: texts[2] as string, D: texts[3] as string };
    col.add(
      await makeItem({
        images: [],
        question: rec.question,
        options,
        answer_label: 'ABCD'[cop - base],
        dataset_name: 'medmcqa',
        dataset_index: line - 1,
        split,
        source: where,
      }),
      where,
    );
  }
  return col.finish();
}

export interface PubMedQaOptions extends LoadOptions {
  /** Put the abstract's labelled context paragraphs before the question (default true). */
  withContext?: boolean;
}

/**
 * PubMedQA PQA-L: `ori_pqal.json` (1,000 labelled questions) and `test_ground_truth.json` (the 500
 * test ids). Split "test" = those ids, "train" = the other 500, "all" = both. Options yes/no/maybe.
 */
export async function loadPubMedQa(src: FileSource, opts: PubMedQaOptions = {}): Promise<LoadResult> {
  const split = canonicalSplit(opts.split, 'test');
  checkSplit('pubmedqa', split, ['test', 'train', 'all']);
  const files = await FileIndex.of(src);
  const dataPath = files.require(['ori_pqal.json'], /(^|\/)ori_pqal\.json$/, 'PubMedQA ori_pqal.json');
  const data = await readJsonFile(src, dataPath);
  if (!data || typeof data !== 'object' || Array.isArray(data)) throw new InputError(joinWhere(src.name, dataPath), 'expected an object of id -> question');
  let testIds: Record<string, unknown> | null = null;
  if (split !== 'all') {
    const gtPath = files.require(['test_ground_truth.json'], /(^|\/)test_ground_truth\.json$/, 'PubMedQA test_ground_truth.json (the test split ids)');
    const gt = await readJsonFile(src, gtPath);
    if (!gt || typeof gt !== 'object' || Array.isArray(gt)) throw new InputError(joinWhere(src.name, gtPath), 'expected an object of id -> label');
    testIds = gt as Record<string, unknown>;
  }
  const col = new Collector('pubmedqa', split, src.name, opts);
  const entries = Object.entries(data as Record<string, unknown>);
  const options = { A: 'yes', B: 'no', C: 'maybe' };
  const letter: Record<string, string> = { yes: 'A', no: 'B', maybe: 'C' };
  let disagree = 0;
  for (let i = 0; i < entries.length && !col.full; i++) {
    const [id, v] = entries[i];
    if (testIds && id in testIds !== (split === 'test')) continue;
    const where = `${dataPath}[${id}]`;
    col.record();
    const rec = v as Record<string, unknown>;
    const decision = String(rec?.final_decision ?? '')
      .trim()
      .toLowerCase();
    if (typeof rec?.QUESTION !== 'string' || !letter[decision]) {
      col.drop({ where, kind: 'bad-input', reason: 'record lacks QUESTION or a final_decision of yes/no/maybe' });
      continue;
    }
    if (testIds && split === 'test' && String(testIds[id]).toLowerCase() !== decision) disagree++;
    let question = rec.QUESTION;
    if (opts.withContext ?? true) {
      const ctx = Array.isArray(rec.CONTEXTS) ? rec.CONTEXTS.map(String) : [];
      const labels = Array.isArray(rec.LABELS) ? rec.LABELS.map(String) : [];
      const paras = ctx.map((c, k) => (labels[k] ? `${labels[k]}: ${c}` : c));
      if (paras.length) question = `${paras.join('\n')}\n\n${rec.QUESTION}`;
    }
    const itemSplit = split === 'all' ? undefined : split;
    col.add(
      await makeItem({
        images: [],
        question,
        options,
        answer_label: letter[decision],
        dataset_name: 'pubmedqa',
        dataset_index: i,
        split: itemSplit,
        source: where,
      }),
      where,
    );
  }
  if (disagree) col.note(`${disagree} test labels in test_ground_truth.json differ from final_decision; final_decision was used`);
  return col.finish();
}

export const MMLU_MEDICAL_SUBJECTS = ['anatomy', 'clinical_knowledge', 'college_biology', 'college_medicine', 'medical_genetics', 'professional_medicine'];

export interface MmluOptions extends LoadOptions {
  subjects?: string[];
}

/** MMLU subject CSVs `<subject>_<split>.csv` (no header: question, A, B, C, D, answer letter). */
export async function loadMmluMedical(src: FileSource, opts: MmluOptions = {}): Promise<LoadResult> {
  const split = canonicalSplit(opts.split, 'test');
  checkSplit('mmlu-med', split, ['test', 'validation', 'dev']);
  const subjects = opts.subjects ?? MMLU_MEDICAL_SUBJECTS;
  const suffix = split === 'validation' ? 'val' : split;
  const files = await FileIndex.of(src);
  const paths: string[] = [];
  const absent: string[] = [];
  for (const s of subjects) {
    const p = files.pick([`${s}_${suffix}.csv`], new RegExp(`(^|/)${s}_${suffix}\\.csv$`));
    if (p) paths.push(p);
    else absent.push(`${s}_${suffix}.csv`);
  }
  if (paths.length === 0) throw new InputError(src.name, `no MMLU CSV for split "${split}" (looked for ${absent.join(', ')})`);
  const col = new Collector('mmlu-med', split, src.name, opts);
  if (absent.length) col.note(`subjects without a file: ${absent.join(', ')}`);
  for (const path of paths) {
    if (col.full) break;
    const recs = parseCsv(await readText(src, path), joinWhere(src.name, path));
    for (let r = 0; r < recs.length && !col.full; r++) {
      const { line, fields } = recs[r];
      const where = `${path}:${line}`;
      col.record();
      if (fields.length !== 6) {
        col.drop({ where, kind: 'bad-input', reason: `expected 6 columns (question, A, B, C, D, answer), found ${fields.length}` });
        continue;
      }
      const [question, a, b, c, d, ans] = fields;
      const label = ans.trim().toUpperCase();
      const options = { A: a, B: b, C: c, D: d };
      col.add(
        await makeItem({ images: [], question, options, answer_label: label, dataset_name: 'mmlu_medical', dataset_index: r, split, source: where }),
        where,
      );
    }
  }
  return col.finish();
}
