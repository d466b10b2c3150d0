// The pretrained backend in Node (the headless runner's ask, eval --backend transformers, distill):
// onnxruntime-node on the CPU, downloads cached in a folder (default ~/.cache/thinker/transformers,
// or --cache-dir / THINKER_MODEL_CACHE), a model named by a hub id or a local folder.
import { stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InputError } from '../engine/errors';
import { PretrainedBackend, type LoadedModel, type LoadProgress } from './backend';
import { nodeCacheStore } from './cache-node';
import type { Dtype } from './catalog';

export interface NodePretrainedOptions {
  model: string;
  endpoint?: string;
  dtype?: string;
  offline?: boolean;
  cacheDir?: string;
  threads?: number;
  /** Progress lines (on stderr). */
  log?: (line: string) => void;
}

const DTYPES: Dtype[] = ['fp32', 'fp16', 'q4', 'q4f16', 'q8'];

export function defaultCacheDir(): string {
  return process.env.THINKER_MODEL_CACHE ?? path.join(os.homedir(), '.cache', 'thinker', 'transformers');
}

const mb = (b: number) => `${(b / 1e6).toFixed(b < 1e7 ? 2 : 0)} MB`;

/** A backend with `model` loaded; a folder that exists is read in place, anything else is a hub id. */
export async function openPretrained(o: NodePretrainedOptions): Promise<{ backend: PretrainedBackend; info: LoadedModel }> {
  if (o.dtype !== undefined && !DTYPES.includes(o.dtype as Dtype)) throw new InputError('--dtype', `must be one of ${DTYPES.join(', ')}, not "${o.dtype}"`);
  if (o.endpoint !== undefined && !/^https?:\/\/[^/]+/.test(o.endpoint)) throw new InputError('--endpoint', `expected an http(s) URL, got "${o.endpoint}"`);
  const isDir = await stat(o.model).then(
    (s) => s.isDirectory(),
    () => false,
  );
  const model = isDir ? path.resolve(o.model) : o.model;
  if (!isDir && !/^[\w.-]+(\/[\w.-]+)?$/.test(model)) throw new InputError('--model', `"${o.model}" is neither a folder nor a model id like org/name`);
  const cacheDir = path.resolve(o.cacheDir ?? defaultCacheDir());
  const backend = new PretrainedBackend({
    store: nodeCacheStore(cacheDir),
    cacheDir,
    defaultDevice: 'cpu',
    numThreads: o.threads,
    memoryBytes: os.totalmem(),
  });
  let lastLine = Date.now();
  const onProgress = (p: LoadProgress) => {
    const now = Date.now();
    // A line every few seconds while bytes arrive; the summary line below says when it is done.
    if (!o.log || now - lastLine < 2000 || p.done >= p.total) return;
    lastLine = now;
    o.log(`${model}: ${p.phase} ${mb(p.done)} / ${mb(p.total)}`);
  };
  const info = await backend.load({ model, endpoint: o.endpoint, dtype: o.dtype as Dtype | undefined, offline: o.offline }, onProgress);
  o.log?.(
    `${info.id}: ${info.kind} model (${info.modelType}), ${info.files.length} files, ${mb(info.bytes)}, ${info.downloaded} downloaded; ${info.device}${info.dtype ? ` ${info.dtype}` : ''}`,
  );
  return { backend, info };
}
