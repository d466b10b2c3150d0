// The interface between the UI and the pretrained-model worker (workers/pretrained.worker.ts):
// pretrained vision-language models run by transformers.js, in a worker of their own so a long
// download or answer never blocks the engine worker's training. Its shapes mirror the engine's
// (src/lab/api.ts): the same Progress, AskReply, EvaluateReply, so the Ask, Evaluate and Data
// pages can switch between "lab model" and "pretrained model" with one branch.
//
// The UI calls it through comlink (src/pretrained/client.ts: getPretrained()); pass callbacks with
// Comlink.proxy. One job at a time: a call made while another runs is refused, naming the job.
import type { CatalogView, Dtype, Device } from './catalog';
import type { CachedModel } from './cache';
import type { LoadedModel, LoadProgress, PretrainedAskReply } from './backend';
import type { EvalRecord } from '../eval/run';
import type { DataRef, DatasetInfo, EvaluateReply, Progress } from '../lab/api';

export type { CatalogView, CachedModel, LoadedModel, LoadProgress, PretrainedAskReply, Dtype, Device };

export interface AdapterView {
  /** null: no WebGPU here (models run on WASM, on the CPU). */
  webgpu: { vendor: string; architecture: string; description: string; features: string[]; maxBufferSize: number; maxStorageBufferBindingSize: number } | null;
  /** navigator.deviceMemory in bytes, when the browser tells (Chrome caps it at 8 GB). */
  memoryBytes: number | null;
  /** The device a load uses unless asked otherwise. */
  device: Device;
}

export interface PretrainedLoadReq {
  /** A catalog id, any Hugging Face model id, or (with `folder`) a label for a picked folder. */
  model: string;
  /** Hub mirror base URL (default https://huggingface.co). */
  endpoint?: string;
  dtype?: Dtype;
  device?: Device;
  /** Only the cache: no network at all. */
  offline?: boolean;
  /** A folder the user picked (showDirectoryPicker) or its files (<input webkitdirectory>): read from it, never from the network. */
  folder?: FileSystemDirectoryHandle | File[];
}

export interface PretrainedAskReq {
  question: string;
  options?: Record<string, string>;
  image?: Uint8Array;
  recipePrompt: boolean;
  maxNewTokens: number;
  /** 0 = greedy. */
  temperature: number;
  topP?: number;
  seed?: number;
  newline?: 'literal' | 'real';
}

export interface PretrainedEvaluateReq {
  benchmarks: { name: string; data: DataRef }[];
  /** Items per benchmark (0 = all). */
  limit: number;
  maxNewTokens: number;
  /** Samples per item besides the greedy answer (pass@n, majority); 1 = greedy only. */
  n?: number;
  seed?: number;
  newline?: 'literal' | 'real';
}

export interface DistillReq {
  data: DataRef;
  /** Responses per question (the paper: 3). */
  n: number;
  maxNewTokens: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  /** reward (default: think/answer format required) or grader. */
  grade?: 'reward' | 'grader';
  newline?: 'literal' | 'real';
  /** Store the questions that got a trace as datasets/NAME (split "train"), ready for SFT. */
  saveAs?: string;
}

export interface DistillReply {
  total: number;
  /** Questions with a correct trace. */
  withTrace: number;
  samples: number;
  /** Questions the teacher answered without (some of) their images (a text-only model sees none). */
  withoutImages: number;
  /** Each question, its responses and grades, and the kept trace. */
  records: {
    question: string;
    answer_label: string;
    responses: { text: string; correct: boolean; finished: boolean }[];
    kept: number | null;
    reasoning: string | null;
  }[];
  saved?: DatasetInfo;
}

export interface PretrainedApi {
  /** The adapter this worker sees (features, limits, memory). */
  adapter(): Promise<AdapterView>;
  /** The curated list with the dtype chosen for this adapter and sizes, or why each cannot run. */
  catalog(): Promise<CatalogView[]>;
  /** Models in the browser's model cache, with sizes and whether a load completed from them. */
  cached(): Promise<CachedModel[]>;
  /** Remove a model's files from the cache; resolves to how many files went. */
  deleteCached(id: string): Promise<number>;
  /** Load a model (replacing the current one). Progress is in bytes over all files. */
  load(req: PretrainedLoadReq, onProgress?: (p: LoadProgress) => void): Promise<LoadedModel>;
  /** The loaded model, or null. */
  current(): Promise<LoadedModel | null>;
  /** Answer one question with the loaded model; `onToken` gets the text so far as it grows. */
  ask(req: PretrainedAskReq, onToken?: (textSoFar: string) => void): Promise<PretrainedAskReply>;
  /** The benchmarks scored by the lab's runner and the paper's grader (the same as lab models). */
  evaluate(req: PretrainedEvaluateReq, onProgress?: (p: Progress) => void, onRecord?: (r: EvalRecord) => void): Promise<EvaluateReply>;
  /** Teacher traces: n responses per question, the first correct one kept as its reasoning. */
  distill(req: DistillReq, onProgress?: (p: Progress) => void): Promise<DistillReply>;
  /** Stop the current answer, evaluation or distillation. */
  cancel(): Promise<void>;
  unload(): Promise<void>;
}
