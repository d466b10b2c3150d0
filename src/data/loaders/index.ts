// The datasets the lab knows by name, with the folder each one usually lives in under a data
// directory (the layout of ../shared/data and of the docs).

import type { FileSource } from '../../io/files';
import type { LoadResult } from '../report';
import type { ImageLoadOptions } from './common';
import { loadMedVlThinkerEval, loadMedXpertQaMM, loadPmcVqa } from './mcvqa';
import { loadMedMcqa, loadMedQa, loadMmluMedical, loadPubMedQa } from './text';
import { loadPathVqa, loadSlake, loadVqaRad } from './vqa';

export interface DatasetSpec {
  name: string;
  aliases: string[];
  /** Usual folder under a data directory. */
  dir: string;
  splits: string[];
  defaultSplit: string;
  /** Files whose presence says a folder is this dataset's own (so a data dir can also be the dataset folder). */
  marker: RegExp;
  describe: string;
  load(src: FileSource, opts: ImageLoadOptions): Promise<LoadResult>;
}

export const DATASETS: DatasetSpec[] = [
  {
    name: 'vqa-rad',
    aliases: ['vqa_rad', 'vqarad', 'vqa_rad_closed'],
    dir: 'vqa-rad',
    splits: ['test', 'train', 'all'],
    defaultSplit: 'test',
    marker: /VQA_RAD[^/]*\.json$/i,
    describe: 'VQA-RAD closed questions as multiple choice',
    load: loadVqaRad,
  },
  {
    name: 'slake',
    aliases: ['slake_closed', 'slake1.0'],
    dir: 'slake',
    splits: ['test', 'validate', 'train'],
    defaultSplit: 'test',
    marker: /(^|\/)(test|train|validate)\.json$/,
    describe: 'SLAKE 1.0 English closed questions as multiple choice',
    load: loadSlake,
  },
  {
    name: 'pathvqa',
    aliases: ['path-vqa', 'pathvqa_closed'],
    dir: 'pathvqa',
    splits: ['test', 'validation', 'train'],
    defaultSplit: 'test',
    marker: /\.parquet$/,
    describe: 'PathVQA yes/no questions (Hugging Face parquet)',
    load: loadPathVqa,
  },
  {
    name: 'medqa',
    aliases: ['medqa-usmle'],
    dir: 'medqa',
    splits: ['test', 'dev', 'train'],
    defaultSplit: 'test',
    marker: /\.jsonl$/,
    describe: 'MedQA-USMLE multiple choice',
    load: loadMedQa,
  },
  {
    name: 'medmcqa',
    aliases: [],
    dir: 'medmcqa',
    splits: ['dev', 'train', 'test'],
    defaultSplit: 'dev',
    marker: /\.jsonl?$/,
    describe: 'MedMCQA (cop 1-4)',
    load: loadMedMcqa,
  },
  {
    name: 'pubmedqa',
    aliases: ['pubmedqa-l'],
    dir: 'pubmedqa',
    splits: ['test', 'train', 'all'],
    defaultSplit: 'test',
    marker: /ori_pqal\.json$/,
    describe: 'PubMedQA PQA-L yes/no/maybe',
    load: loadPubMedQa,
  },
  {
    name: 'mmlu-med',
    aliases: ['mmlu', 'mmlu_medical', 'mmlu-medical'],
    dir: 'mmlu-med',
    splits: ['test', 'dev', 'validation'],
    defaultSplit: 'test',
    marker: /_test\.csv$/,
    describe: 'MMLU medical subjects',
    load: loadMmluMedical,
  },
  {
    name: 'medxpertqa-mm',
    aliases: ['medxpertqa', 'medxpertqa_mm', 'MedXpertQA-MM'],
    dir: 'medxpertqa-mm',
    splits: ['test', 'dev'],
    defaultSplit: 'test',
    marker: /\.jsonl$/,
    describe: 'MedXpertQA MM (images under images/)',
    load: loadMedXpertQaMM,
  },
  {
    name: 'pmc-vqa',
    aliases: ['pmc_vqa', 'pmcvqa'],
    dir: 'pmc-vqa',
    splits: ['test', 'train'],
    defaultSplit: 'test',
    marker: /(test_clean|train_2|test_2)\.csv$/,
    describe: 'PMC-VQA multiple choice (CSV + images/)',
    load: loadPmcVqa,
  },
  {
    name: 'medvlthinker-eval',
    aliases: ['medvlthinker_eval', 'UCSC-VLAA/MedVLThinker-Eval'],
    dir: 'medvlthinker-eval',
    splits: ['test'],
    defaultSplit: 'test',
    marker: /\.parquet$/,
    describe: "the paper's evaluation set (parquet, images embedded)",
    load: loadMedVlThinkerEval,
  },
];

export function findDataset(name: string): DatasetSpec | undefined {
  const n = name.toLowerCase();
  return DATASETS.find((d) => d.name === n || d.aliases.some((a) => a.toLowerCase() === n));
}

export { loadVqaRad, loadSlake, loadPathVqa, loadMedQa, loadMedMcqa, loadPubMedQa, loadMmluMedical, loadMedXpertQaMM, loadPmcVqa, loadMedVlThinkerEval };
export { loadGeneric, type ColumnMapping, type GenericOptions } from './generic';
