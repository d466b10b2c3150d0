// The dataset store: datasets/NAME/ in the lab's workspace, what the lab imports, curates and
// distils into and what runs, evaluation and previews read (in the browser and in Node).
//
// A dataset is the folder datasets/NAME/, written in one atomic writeFolder:
//   dataset.json        DatasetInfo
//   <split>.jsonl       the items of a split in the recipe schema (data/loaders/recipe.ts recipeRow),
//                       images named by their path in the folder; curated sets add pass_count
//   images/<hash>-<i>.png|jpg   image i of the item with that hash. An image several items share
//                       (VQA-RAD asks many questions about one scan) is stored once, under the
//                       name of the first item that uses it.
// dataset.json's `dropped` counts, by kind (src/data/report.ts DropKind, plus "unreadable-image"
// when an image fails to copy), the records that should have become items and did not; records
// left out by design (open questions, another language) appear as "excluded: <reason>".
import { InputError, cancelled } from '../engine/errors';
import { imageFormat } from '../io/images';
import { isCompleteFolder, subWorkspace, type Workspace } from '../io/workspace';
import type { ImageRef, QAItem } from '../task/schema';
import { checkName } from '../util/names';
import { progressReporter, type Progress } from '../util/progress';
import { loadRecipeJsonl, recipeRow } from './loaders/recipe';
import { generateSynth, validateSynthOptions, type SynthOptions } from './synth';

export const DATASETS_DIR = 'datasets';
export const DATASET_INFO = 'dataset.json';
/** A split name usable as a file name. */
export const SPLIT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Where items come from: the synth generator (nothing stored), or a dataset in the workspace. */
export type DataRef =
  | { kind: 'synth'; options: SynthOptions }
  /**
   * `datasetName` keeps only items of that source benchmark (their `dataset_name`): the paper's
   * MedVLThinker-Eval set holds all six benchmarks in one split. `limit` applies after it.
   */
  | { kind: 'dataset'; name: string; split?: string; limit?: number; datasetName?: string };

export interface DatasetInfo {
  name: string;
  /** The loader that read it (src/data/loaders), "hub:<repo>", or "curated:<dataset>". */
  source: string;
  splits: { name: string; items: number; withImages: number }[];
  /** What the loader dropped and why (counts by reason). */
  dropped: Record<string, number>;
  importedAt: string;
  bytes: number;
}

// ---------------------------------------------------------------------------------------------
// Reading stored datasets.

/** Items read from stored JSONL, per workspace, keyed by "name/split"; stored datasets never change in place. */
const itemCache = new WeakMap<Workspace, Map<string, QAItem[]>>();
const cacheOf = (ws: Workspace) => {
  let c = itemCache.get(ws);
  if (!c) itemCache.set(ws, (c = new Map()));
  return c;
};
/** Drop the cached items of a dataset (deleted or rewritten). */
export const forgetDataset = (ws: Workspace, name: string) => {
  const c = cacheOf(ws);
  for (const k of [...c.keys()]) if (k.startsWith(`${name}/`)) c.delete(k);
};

export async function readDatasetInfo(ws: Workspace, name: string): Promise<DatasetInfo> {
  checkName('dataset', name);
  const dir = `${DATASETS_DIR}/${name}`;
  if (!(await ws.exists(`${dir}/${DATASET_INFO}`)) || !(await isCompleteFolder(ws, dir))) {
    throw new InputError(
      dir,
      (await ws.listDir(dir)).length > 0 ? 'this dataset folder is incomplete (its write was interrupted); delete it' : 'no such dataset',
    );
  }
  let info: DatasetInfo;
  try {
    info = JSON.parse(new TextDecoder().decode(await ws.read(`${dir}/${DATASET_INFO}`)));
  } catch (e) {
    throw new InputError(`${dir}/${DATASET_INFO}`, `is not valid JSON: ${(e as Error).message}`);
  }
  if (!info || !Array.isArray(info.splits)) throw new InputError(`${dir}/${DATASET_INFO}`, 'has no list of splits');
  return info;
}

async function loadSplit(ws: Workspace, name: string, split: string): Promise<QAItem[]> {
  const key = `${name}/${split}`;
  const cache = cacheOf(ws);
  const hit = cache.get(key);
  if (hit) return hit;
  const dir = `${DATASETS_DIR}/${name}`;
  const res = await loadRecipeJsonl(subWorkspace(ws, dir), `${split}.jsonl`, { split });
  // The lab wrote these files; a line it cannot read back means the folder was changed by hand.
  if (res.report.dropped.length) {
    const d = res.report.dropped[0];
    throw new InputError(`${dir}/${d.where}`, `${d.reason} (${res.report.dropped.length} lines of this stored dataset do not read back)`);
  }
  cache.set(key, res.items);
  return res.items;
}

/** The items of a stored dataset: one split, or every split in the order dataset.json lists them. */
export async function loadDatasetItems(ws: Workspace, name: string, split?: string, limit?: number): Promise<QAItem[]> {
  const info = await readDatasetInfo(ws, name);
  let splits = info.splits.map((s) => s.name);
  if (split !== undefined) {
    if (!splits.includes(split)) throw new InputError(`dataset ${name}`, `no split "${split}" (it has ${splits.join(', ')})`);
    splits = [split];
  }
  const items: QAItem[] = [];
  for (const s of splits) items.push(...(await loadSplit(ws, name, s)));
  return limit !== undefined ? items.slice(0, limit) : items;
}

/** Synth items of the last options asked for: paging through a set must not redraw it each page. */
let synthCache: { key: string; items: QAItem[] } | null = null;

/**
 * The items a DataRef names. Synth sets are generated whole (the noisy-trace positions depend on
 * the set's size, so a page generated alone would differ from the same items in the full set).
 */
export async function resolveItems(ws: Workspace, ref: DataRef, where = 'data'): Promise<QAItem[]> {
  if (!ref || typeof ref !== 'object') throw new InputError(where, 'expected a data reference ({kind: "synth", options} or {kind: "dataset", name})');
  if (ref.kind === 'synth') {
    validateSynthOptions(ref.options, `${where}.options`);
    const key = JSON.stringify(ref.options);
    if (synthCache?.key !== key) synthCache = { key, items: await generateSynth(ref.options) };
    return synthCache.items;
  }
  if (ref.kind === 'dataset') {
    if (ref.limit !== undefined && !(Number.isInteger(ref.limit) && ref.limit >= 0))
      throw new InputError(`${where}.limit`, `must be an integer >= 0, got ${ref.limit}`);
    if (ref.datasetName === undefined) return loadDatasetItems(ws, checkName(where, ref.name), ref.split, ref.limit || undefined);
    const all = await loadDatasetItems(ws, checkName(where, ref.name), ref.split);
    const kept = all.filter((it) => it.dataset_name === ref.datasetName);
    if (kept.length === 0) {
      const names = [...new Set(all.map((it) => it.dataset_name))].sort();
      throw new InputError(`${where}.datasetName`, `no items of "${ref.datasetName}" in dataset ${ref.name} (it has ${names.join(', ') || 'no items'})`);
    }
    return ref.limit ? kept.slice(0, ref.limit) : kept;
  }
  throw new InputError(`${where}.kind`, `must be "synth" or "dataset", got ${JSON.stringify((ref as { kind?: unknown }).kind)}`);
}

export const dataLabel = (ref: DataRef) => (ref.kind === 'synth' ? 'synth' : ref.name);

// ---------------------------------------------------------------------------------------------
// Writing datasets.

export interface SplitItems {
  name: string;
  items: QAItem[];
  /** Per item, its pass count (curated sets). */
  passCounts?: (number | null)[];
}

/**
 * Copy items and their images into datasets/NAME in one atomic folder write. Items whose images
 * cannot be read (or are not JPEG/PNG) are left out and counted in `dropped`.
 */
export async function writeDataset(
  ws: Workspace,
  name: string,
  source: string,
  splits: SplitItems[],
  dropped: Record<string, number>,
  onProgress?: (p: Progress) => void,
  signal?: AbortSignal,
): Promise<DatasetInfo> {
  checkName('dataset', name);
  const dir = `${DATASETS_DIR}/${name}`;
  const files: Record<string, Uint8Array | string> = {};
  const stored = new Map<string, string>();
  const used = new Set<string>();
  const drops = { ...dropped };
  const total = splits.reduce((a, s) => a + s.items.length, 0);
  const report = progressReporter(onProgress);
  let done = 0;
  let bytes = 0;
  const infoSplits: DatasetInfo['splits'] = [];
  for (const split of splits) {
    if (!SPLIT_NAME.test(split.name)) throw new InputError(`dataset ${name}`, `split name ${JSON.stringify(split.name)} is not usable as a file name`);
    const lines: string[] = [];
    let withImages = 0;
    for (let k = 0; k < split.items.length; k++) {
      if (signal?.aborted) throw cancelled(`writing dataset ${name} (nothing was written)`);
      const item = split.items[k];
      const refs: ImageRef[] = [];
      let bad: string | null = null;
      for (let i = 0; i < item.images.length && !bad; i++) {
        const im = item.images[i];
        let path = stored.get(im.name);
        if (!path) {
          let b: Uint8Array;
          try {
            b = await im.load();
          } catch (e) {
            if (!(e instanceof InputError)) throw e;
            bad = 'unreadable-image';
            break;
          }
          const fmt = imageFormat(b);
          if (!fmt) {
            bad = 'unreadable-image';
            break;
          }
          const base = `images/${item.hash}-${i}`;
          path = `${base}.${fmt === 'jpeg' ? 'jpg' : 'png'}`;
          // Two items with the same hash (a repeated question) may still show different images.
          for (let n = 1; used.has(path); n++) path = `${base}-${n}.${fmt === 'jpeg' ? 'jpg' : 'png'}`;
          used.add(path);
          stored.set(im.name, path);
          files[path] = b;
          bytes += b.length;
        }
        refs.push({ name: path, load: async () => files[path!] as Uint8Array });
      }
      done++;
      report({ phase: 'copying items and images', done, total });
      if (bad) {
        drops[bad] = (drops[bad] ?? 0) + 1;
        continue;
      }
      if (refs.length) withImages++;
      lines.push(JSON.stringify(recipeRow({ ...item, images: refs }, split.passCounts?.[k])));
    }
    if (lines.length === 0) continue;
    const text = lines.join('\n') + '\n';
    files[`${split.name}.jsonl`] = text;
    bytes += new TextEncoder().encode(text).length;
    infoSplits.push({ name: split.name, items: lines.length, withImages });
  }
  if (infoSplits.length === 0)
    throw new InputError(`dataset ${name}`, `no items to store${Object.keys(drops).length ? ` (dropped: ${formatCounts(drops)})` : ''}`);
  const info: DatasetInfo = { name, source, splits: infoSplits, dropped: drops, importedAt: new Date().toISOString(), bytes };
  files[DATASET_INFO] = JSON.stringify(info, null, 2) + '\n';
  forgetDataset(ws, name);
  await ws.writeFolder(dir, files);
  return info;
}

export const formatCounts = (c: Record<string, number>) =>
  Object.entries(c)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');

/** A name that is free: importing or curating over an existing dataset is refused, not merged. */
export async function requireFreeName(ws: Workspace, name: unknown, what: string): Promise<string> {
  const n = checkName(what, name);
  if ((await ws.listDir(`${DATASETS_DIR}/${n}`)).length > 0)
    throw new InputError(`${DATASETS_DIR}/${n}`, 'a dataset of this name exists; delete it first or choose another name');
  return n;
}
