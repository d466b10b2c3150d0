// `thinker bench`: the lab's WGSL engine beside TensorFlow.js's WebGPU backend on one GPUDevice.
// Three sections, each a warmup then the median of several timed runs:
//   matmul  square f32 GEMM, GFLOP/s, timed with GPU timestamps when the adapter has them;
//   train   one full optimizer step (forward, backward, clip, AdamW) of the same Llama-style text
//           model from the same initial weights on the same batches, tokens/s, wall clock (a step
//           ends with its loss on the host in both implementations);
//   decode  greedy generation by the engine with its KV cache vs recomputing the whole prefix.
// Every number goes into one JSON object; nothing here asserts or compares speeds.

import type { Gpu, GpuInfo } from '../engine/gpu';
import { Arena, download, upload } from '../engine/tensor';
import { CommandStream } from '../engine/stream';
import { matmul } from '../engine/kernels/matmul';
import { PRESETS, countParams, type TextConfig } from '../model/config';
import { Model, initWeights } from '../model/model';
import { Trainer, DEFAULT_OPTIM } from '../model/trainer';
import { sampleWindows } from '../model/lm-data';
import { seededRandom } from '../util/random';
import { generate, generateNoCache } from '../model/generate';
import type { TokenBatch } from '../model/batch';
import { GpuTimer, median, sample, type TimingMethod } from './timing';
import { KernelProfiler } from '../engine/profile';
import { initTfjsWebgpu, settled, type TfjsWebgpu } from './tfjs-webgpu';
import { TfLlama } from './tfjs-llama';
import { ortDecoder, type OrtDecoder } from './ort-decode';
import { fp32Peak } from './peak';

export type BenchSection = 'matmul' | 'train' | 'decode';
export const BENCH_SECTIONS: readonly BenchSection[] = ['matmul', 'train', 'decode'];

export interface NamedText {
  name: string;
  text: TextConfig;
}

export interface BenchOptions {
  profile: string;
  sections: BenchSection[];
  matmulSizes: number[];
  train: NamedText[];
  batch: number;
  seq: number;
  decode: NamedText;
  promptLen: number;
  decodeTokens: number;
  /** Sequences decoded together, one decode row each: 1, and GRPO's 8 prompts x 8 samples. */
  decodeBatches: number[];
  warmup: number;
  repeats: number;
  lr: number;
  seed: number;
  /** Run the tfjs baselines (matmul and train). */
  tfjs: boolean;
  /** A timed matmul run repeats the product until it lasts about this long (tiny sizes on fast GPUs). */
  matmulTargetMs: number;
  /** Decode the same exported model with onnxruntime-web (WASM, one thread) beside the engine. */
  ort: boolean;
  /** Also with onnxruntime-web's WebGPU execution provider, on the engine's device (with `ort`). */
  ortWebgpu: boolean;
  /** The card's fp32 peak in TFLOP/s, when the built-in table (bench/peak.ts) does not know it. */
  peakTflops?: number;
}

export type BenchProfile = 'quick' | 'default' | 'full';

export function presetText(name: string): NamedText {
  const p = PRESETS[name];
  if (!p) throw new Error(`unknown preset ${name}; one of ${Object.keys(PRESETS).join(', ')}`);
  return { name, text: p.text };
}

/** The defaults keep a run to a few minutes on SwiftShader (~0.2 GFLOP/s); full is for real GPUs. */
export function benchProfile(profile: BenchProfile): BenchOptions {
  const base = { profile, sections: [...BENCH_SECTIONS], lr: 1e-3, seed: 0, tfjs: true, ort: true, ortWebgpu: true, matmulTargetMs: 50 };
  switch (profile) {
    case 'quick':
      return {
        ...base,
        matmulSizes: [128, 256],
        train: [presetText('micro')],
        batch: 2,
        seq: 16,
        decode: presetText('micro'),
        promptLen: 8,
        decodeTokens: 8,
        decodeBatches: [1],
        warmup: 1,
        repeats: 2,
        // ORT's WebGPU session compiles its shaders on first use: tens of seconds on a CPU adapter.
        ortWebgpu: false,
      };
    case 'default':
      return {
        ...base,
        matmulSizes: [256, 512],
        train: [presetText('micro'), presetText('tiny')],
        batch: 4,
        seq: 32,
        decode: presetText('micro'),
        promptLen: 16,
        decodeTokens: 24,
        decodeBatches: [1, 64],
        warmup: 1,
        repeats: 3,
      };
    case 'full':
      return {
        ...base,
        matmulSizes: [256, 512, 1024, 2048, 4096],
        train: [presetText('tiny'), presetText('small')],
        batch: 8,
        seq: 256,
        decode: presetText('small'),
        promptLen: 64,
        decodeTokens: 128,
        decodeBatches: [1, 64],
        warmup: 2,
        repeats: 5,
      };
  }
}

export interface Measure {
  /** Median milliseconds per matmul. */
  ms: number;
  /** Median wall-clock milliseconds per matmul (equal to ms when timing by wall clock). */
  wallMs: number;
  gflops: number;
  /** Products per timed run. */
  iters: number;
  samplesMs: number[];
  method: TimingMethod;
}

export interface MatmulRow {
  size: number;
  flops: number;
  engine: Measure | null;
  /** On a CPU adapter: the engine's workgroup matmul (what a GPU runs), forced. */
  engineGpuPath: Measure | null;
  tfjs: Measure | null;
  /** max |engine - tfjs| / max |tfjs| over C: both computed the same product. */
  maxRelDiff: number | null;
  /** The engine's GFLOP/s over the card's fp32 peak (BenchResults.peak), when known. */
  engineOfPeak: number | null;
}

export interface TrainMeasure {
  msPerStep: number;
  tokensPerS: number;
  samplesMs: number[];
  /** Median CPU milliseconds this process used per timed step (0 in a browser). */
  cpuMs: number;
  /** Loss of every step, warmup included: step 1 runs on identical weights and batch in both. */
  losses: number[];
  /** The engine's contenders: where one more step's time goes (null for TF.js and without timestamp-query). */
  breakdown: KernelBreakdown | null;
}

export interface TrainRow {
  preset: string;
  params: number;
  batch: number;
  seq: number;
  tokensPerStep: number;
  /** The engine on the kernel path this adapter gets ('rows' on a CPU adapter, 'workgroup' on a GPU). */
  kernels: 'rows' | 'workgroup';
  engine: TrainMeasure | null;
  /** On a CPU adapter: the engine forced onto the workgroup kernels every GPU runs (null on a GPU, where `engine` is that path). */
  engineGpuPath: TrainMeasure | null;
  tfjs: TrainMeasure | null;
}

export interface DecodeMeasure {
  /** Median wall-clock milliseconds per run (prompt included). */
  ms: number;
  /** New tokens of all sequences per second (batch x new tokens / median seconds). */
  tokensPerS: number;
  samplesMs: number[];
  /** Median CPU milliseconds this process used per run (user + system, every thread): on a CPU adapter the work itself, whatever else the machine runs. */
  cpuMs: number;
}

export interface DecodeRow {
  preset: string;
  params: number;
  /** Sequences decoded together. */
  batch: number;
  promptLen: number;
  newTokens: number;
  /** The engine's kernel path on this adapter: 'rows' (CPU adapters) or 'workgroup' (what a GPU runs). */
  kernels: 'rows' | 'workgroup';
  /** The engine with its KV cache in f32 (what rollouts, evaluation and Ask use on CPU adapters). */
  cached: DecodeMeasure | null;
  /** The same with the KV cache in f16 (Gpu.kvF16: the default on GPUs). */
  cachedF16: DecodeMeasure | null;
  /** On a CPU adapter: the cached path forced onto the workgroup kernels a GPU runs (null on a GPU, where `cached` is that path). */
  cachedGpuPath: DecodeMeasure | null;
  /** The engine recomputing the whole sequence every token. */
  noCache: DecodeMeasure | null;
  /** onnxruntime-web (WASM, one thread) on the same model exported to ONNX with a KV cache. */
  ort: DecodeMeasure | null;
  /** onnxruntime-web's WebGPU execution provider on the same model, on the engine's device, its KV tensors kept on the GPU. */
  ortWebgpu: DecodeMeasure | null;
  /** cached tokens/s over no-cache tokens/s. */
  speedup: number | null;
  /** cached tokens/s over ORT's. */
  vsOrt: number | null;
  /** Greedy outputs of every f32 path that ran agree. */
  sameTokens: boolean | null;
  /** Greedy outputs with the f16 cache are the f32 cache's (rounding may flip a near tie). */
  f16SameTokens: boolean | null;
  /** Where the cached path's time goes: one more run with per-dispatch GPU timestamps (null without timestamp-query). */
  breakdown: DecodeBreakdown | null;
}

/** One profiled run: every dispatch timed on the GPU (slower than a timed run; it is about shares, not speed). */
export interface KernelBreakdown {
  dispatches: number;
  /** GPU time of all dispatches, and the wall time of the same (profiled) run: their gap is host work, submission and read-back. */
  gpuMs: number;
  wallMs: number;
  /** The kernels taking the most GPU time, by label (a label names the entry point and its path). */
  top: { label: string; calls: number; ms: number }[];
}

export interface DecodeBreakdown extends KernelBreakdown {
  /** Compute dispatches per new token, the prompt's prefill included. */
  dispatchesPerToken: number;
}

export interface BenchError {
  section: BenchSection;
  what: string;
  message: string;
}

export interface BenchResults {
  version: 1;
  createdAt: string;
  profile: string;
  adapter: GpuInfo;
  /** The card's fp32 peak the matmul fractions refer to (null: a CPU adapter or a card not in the table). */
  peak: { gflops: number; card: string } | null;
  runtime: string;
  options: Omit<BenchOptions, 'train' | 'decode'> & { train: string[]; decode: string };
  matmul: MatmulRow[];
  train: TrainRow[];
  decode: DecodeRow[];
  errors: BenchError[];
  seconds: number;
}

export type BenchLog = (msg: string) => void;

function checkOptions(o: BenchOptions): void {
  const posInt = (name: string, v: number, min = 1) => {
    if (!Number.isInteger(v) || v < min) throw new Error(`bench: ${name} must be an integer >= ${min}, got ${v}`);
  };
  o.matmulSizes.forEach((n) => posInt('matmul size', n));
  posInt('batch', o.batch);
  posInt('seq', o.seq, 2);
  posInt('prompt length', o.promptLen);
  posInt('decode tokens', o.decodeTokens);
  o.decodeBatches.forEach((b) => posInt('decode batch', b));
  posInt('warmup', o.warmup, 0);
  posInt('repeats', o.repeats);
  for (const m of o.train) {
    if (o.seq > m.text.maxPositionEmbeddings) throw new Error(`bench: seq ${o.seq} exceeds ${m.name}'s context of ${m.text.maxPositionEmbeddings}`);
  }
  if (o.promptLen + o.decodeTokens > o.decode.text.maxPositionEmbeddings) {
    throw new Error(`bench: prompt ${o.promptLen} + ${o.decodeTokens} tokens exceed ${o.decode.name}'s context of ${o.decode.text.maxPositionEmbeddings}`);
  }
}

function randomData(n: number, seed: number): Float32Array {
  const r = seededRandom(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r() * 2 - 1;
  return a;
}

const errMsg = (e: unknown) => (e instanceof Error ? e.message : String(e));

export async function runBench(gpu: Gpu, o: BenchOptions, log: BenchLog = () => {}): Promise<BenchResults> {
  checkOptions(o);
  const t0 = performance.now();
  const res: BenchResults = {
    version: 1,
    createdAt: new Date().toISOString(),
    profile: o.profile,
    adapter: gpu.info,
    peak: fp32Peak(gpu.info, o.peakTflops),
    runtime: typeof process !== 'undefined' && process.versions?.node ? `node ${process.versions.node}` : 'browser',
    options: { ...o, train: o.train.map((m) => m.name), decode: o.decode.name },
    matmul: [],
    train: [],
    decode: [],
    errors: [],
    seconds: 0,
  };
  let tfjs: TfjsWebgpu | null = null;
  if (o.tfjs && (o.sections.includes('matmul') || o.sections.includes('train'))) {
    try {
      tfjs = await initTfjsWebgpu(gpu);
    } catch (e) {
      res.errors.push({ section: o.sections.includes('matmul') ? 'matmul' : 'train', what: 'tfjs-webgpu backend', message: errMsg(e) });
    }
  }
  const timer = new GpuTimer(gpu);
  try {
    if (o.sections.includes('matmul')) {
      for (const n of o.matmulSizes) {
        const row = await matmulRow(gpu, timer, tfjs, n, o, res.errors, log);
        row.engineOfPeak = res.peak && row.engine ? row.engine.gflops / res.peak.gflops : null;
        res.matmul.push(row);
      }
    }
    if (o.sections.includes('train')) {
      for (const m of o.train) res.train.push(await trainRow(gpu, tfjs, m, o, res.errors, log));
    }
    if (o.sections.includes('decode')) for (const b of o.decodeBatches) res.decode.push(await decodeRow(gpu, o, b, res.errors, log));
  } finally {
    timer.destroy();
  }
  res.seconds = (performance.now() - t0) / 1000;
  return res;
}

/** Repeat `once` until a run lasts about targetMs, so tiny products on fast GPUs measure work, not submission. */
function itersFor(firstMs: number, targetMs: number): number {
  return Math.max(1, Math.min(256, Math.ceil(targetMs / Math.max(firstMs, 1e-3))));
}

async function measureMatmul(timer: GpuTimer, n: number, o: BenchOptions, record: (iters: number) => void | Promise<void>): Promise<Measure> {
  const first = await timer.time(() => record(1));
  const iters = itersFor(first.ms, o.matmulTargetMs);
  const runs = await sample(Math.max(0, o.warmup - 1), o.repeats, () => timer.time(() => record(iters)));
  const ms = median(runs.map((r) => r.ms)) / iters;
  return {
    ms,
    wallMs: median(runs.map((r) => r.wallMs)) / iters,
    gflops: (2 * n ** 3) / (ms * 1e6),
    iters,
    samplesMs: runs.map((r) => r.ms / iters),
    method: runs.every((r) => r.method === 'gpu-timestamps') ? 'gpu-timestamps' : 'wall-clock',
  };
}

async function matmulRow(
  gpu: Gpu,
  timer: GpuTimer,
  tfjs: TfjsWebgpu | null,
  n: number,
  o: BenchOptions,
  errors: BenchError[],
  log: BenchLog,
): Promise<MatmulRow> {
  const row: MatmulRow = { size: n, flops: 2 * n ** 3, engine: null, engineGpuPath: null, tfjs: null, maxRelDiff: null, engineOfPeak: null };
  // Made on first use: a size the engine refuses should not first cost gigabytes of host memory.
  let ab: [Float32Array, Float32Array] | null = null;
  const inputs = () => (ab ??= [randomData(n * n, o.seed + n), randomData(n * n, o.seed + n + 1)]);
  let engineC: Float32Array | null = null;
  log(`matmul ${n}x${n}: engine`);
  let arena: Arena | null = null;
  const s = new CommandStream(gpu, 'bench.matmul');
  try {
    arena = new Arena(gpu, 'bench.matmul', [
      { name: 'A', shape: [n, n], dtype: 'f32' },
      { name: 'B', shape: [n, n], dtype: 'f32' },
      { name: 'C', shape: [n, n], dtype: 'f32' },
    ]);
    const A = arena.get('A'),
      B = arena.get('B'),
      C = arena.get('C');
    upload(gpu, A, inputs()[0]);
    upload(gpu, B, inputs()[1]);
    row.engine = await measureMatmul(timer, n, o, (iters) => {
      for (let i = 0; i < iters; i++) matmul(s, A, B, C, { M: n, N: n, K: n });
      s.submit();
    });
    await s.sync();
    engineC = await download(gpu, C);
    if (gpu.rowKernels) {
      log(`matmul ${n}x${n}: engine, workgroup kernels (the GPU path)`);
      row.engineGpuPath = await onGpuPath(gpu, () =>
        measureMatmul(timer, n, o, (iters) => {
          for (let i = 0; i < iters; i++) matmul(s, A, B, C, { M: n, N: n, K: n });
          s.submit();
        }),
      );
    }
  } catch (e) {
    errors.push({ section: 'matmul', what: `engine ${n}`, message: errMsg(e) });
  } finally {
    s.destroy();
    arena?.release();
  }
  if (tfjs) {
    log(`matmul ${n}x${n}: tfjs-webgpu`);
    const tf = tfjs.tf;
    const ta = tf.tensor2d(inputs()[0], [n, n]),
      tb = tf.tensor2d(inputs()[1], [n, n]);
    try {
      row.tfjs = await measureMatmul(timer, n, o, (iters) => {
        // Outputs are disposed at once: tfjs frees their buffers only after the submit that used them.
        for (let i = 0; i < iters; i++) tf.matMul(ta, tb).dispose();
        tfjs.flush();
      });
      await settled(gpu);
      const tc = tf.matMul(ta, tb);
      const c = (await tc.data()) as Float32Array;
      tc.dispose();
      if (engineC) {
        let diff = 0,
          scale = 0;
        for (let i = 0; i < c.length; i++) {
          diff = Math.max(diff, Math.abs(engineC[i] - c[i]));
          scale = Math.max(scale, Math.abs(c[i]));
        }
        row.maxRelDiff = diff / Math.max(scale, 1e-30);
      }
    } catch (e) {
      errors.push({ section: 'matmul', what: `tfjs ${n}`, message: errMsg(e) });
    } finally {
      tf.dispose([ta, tb]);
    }
  }
  return row;
}

function trainMeasure(stepMs: number[], cpu: number[], losses: number[], warmup: number, tokens: number): TrainMeasure {
  const timed = stepMs.slice(warmup);
  const ms = median(timed);
  return { msPerStep: ms, tokensPerS: tokens / (ms / 1000), samplesMs: timed, cpuMs: median(cpu.slice(warmup)), losses, breakdown: null };
}

/** Run `fn` with the workgroup kernels a GPU gets, on a CPU adapter that normally runs the row kernels. */
async function onGpuPath<T>(gpu: Gpu, fn: () => Promise<T>): Promise<T> {
  const before = gpu.rowKernels;
  gpu.rowKernels = false;
  try {
    return await fn();
  } finally {
    gpu.rowKernels = before;
  }
}

interface TrainContender {
  name: 'engine' | 'engineGpuPath' | 'tfjs';
  step: (b: TokenBatch) => Promise<number>;
  release: () => void;
  ms: number[];
  cpu: number[];
  losses: number[];
}

async function trainRow(gpu: Gpu, tfjs: TfjsWebgpu | null, m: NamedText, o: BenchOptions, errors: BenchError[], log: BenchLog): Promise<TrainRow> {
  const { B, T } = { B: o.batch, T: o.seq };
  const cfg = { text: m.text };
  const row: TrainRow = {
    preset: m.name,
    params: countParams(cfg),
    batch: B,
    seq: T,
    tokensPerStep: B * T,
    kernels: gpu.rowKernels ? 'rows' : 'workgroup',
    engine: null,
    engineGpuPath: null,
    tfjs: null,
  };
  // One random token stream and one list of windows, fed identically to every contender.
  const V = m.text.vocabSize;
  const rand = seededRandom(o.seed + 7);
  const stream = new Uint32Array(Math.max(4096, (T + 1) * B * 4));
  for (let i = 0; i < stream.length; i++) stream[i] = Math.floor(rand() * V);
  const pick = seededRandom(o.seed + 8);
  const batches: TokenBatch[] = Array.from({ length: o.warmup + o.repeats }, () => sampleWindows(stream, B, T, pick));
  const weights = initWeights(cfg, o.seed);

  const contenders: TrainContender[] = [];
  const engine = (name: 'engine' | 'engineGpuPath') => {
    try {
      const model = new Model(gpu, cfg);
      model.loadWeights(weights);
      const trainer = new Trainer(model, { ...DEFAULT_OPTIM, lr: o.lr });
      const run = async (b: TokenBatch) => (await trainer.trainStep([b], o.lr)).loss;
      contenders.push({
        name,
        step: name === 'engineGpuPath' ? (b) => onGpuPath(gpu, () => run(b)) : run,
        release: () => {
          trainer.release();
          model.release();
        },
        ms: [],
        cpu: [],
        losses: [],
      });
    } catch (e) {
      errors.push({ section: 'train', what: `${name === 'engine' ? 'engine' : 'engine (workgroup kernels)'} ${m.name}`, message: errMsg(e) });
    }
  };
  engine('engine');
  // On a CPU adapter the row kernels run; the workgroup kernels are what any GPU gets, so they are timed too.
  if (gpu.rowKernels) engine('engineGpuPath');
  if (tfjs) {
    try {
      const tm = new TfLlama(tfjs.tf, m.text, weights, { ...DEFAULT_OPTIM, lr: o.lr });
      contenders.push({
        name: 'tfjs',
        step: async (b) => {
          const loss = await tm.trainStep(b.ids, b.targets!, B, T, o.lr);
          await settled(gpu);
          return loss;
        },
        release: () => tm.dispose(),
        ms: [],
        cpu: [],
        losses: [],
      });
    } catch (e) {
      errors.push({ section: 'train', what: `tfjs ${m.name}`, message: errMsg(e) });
    }
  }
  // Interleaved: step i of every contender, then step i + 1, so a change in load falls on all alike.
  const failed = new Set<TrainContender>();
  for (const [i, b] of batches.entries()) {
    for (const c of contenders) {
      if (failed.has(c)) continue;
      if (i === 0)
        log(
          `train ${m.name} (${B}x${T}): ${c.name === 'engineGpuPath' ? 'engine, workgroup kernels (the GPU path)' : c.name === 'tfjs' ? 'tfjs-webgpu' : 'engine'}`,
        );
      try {
        const cpu0 = cpuMs();
        const t = performance.now();
        c.losses.push(await c.step(b));
        c.ms.push(performance.now() - t);
        c.cpu.push(cpuMs() - cpu0);
      } catch (e) {
        failed.add(c);
        errors.push({ section: 'train', what: `${c.name === 'engineGpuPath' ? 'engine (workgroup kernels)' : c.name} ${m.name}`, message: errMsg(e) });
      }
    }
  }
  for (const c of contenders) {
    if (!failed.has(c)) {
      const measure = trainMeasure(c.ms, c.cpu, c.losses, o.warmup, B * T);
      if (c.name !== 'tfjs' && gpu.hasTimestamps) {
        try {
          measure.breakdown = await kernelBreakdown(gpu, () => c.step(batches[0]));
        } catch (e) {
          errors.push({ section: 'train', what: `${c.name} ${m.name} breakdown`, message: errMsg(e) });
        }
      }
      row[c.name] = measure;
    }
    c.release();
  }
  return row;
}

async function decodeRow(gpu: Gpu, o: BenchOptions, B: number, errors: BenchError[], log: BenchLog): Promise<DecodeRow> {
  const m = o.decode;
  const cfg = { text: m.text };
  const n = o.decodeTokens;
  const row: DecodeRow = {
    preset: m.name,
    params: countParams(cfg),
    batch: B,
    promptLen: o.promptLen,
    newTokens: n,
    kernels: gpu.rowKernels ? 'rows' : 'workgroup',
    cached: null,
    cachedF16: null,
    cachedGpuPath: null,
    noCache: null,
    ort: null,
    ortWebgpu: null,
    speedup: null,
    vsOrt: null,
    sameTokens: null,
    f16SameTokens: null,
    breakdown: null,
  };
  const rand = seededRandom(o.seed + 11);
  const prompts = Array.from({ length: B }, () => Array.from({ length: o.promptLen }, () => Math.floor(rand() * m.text.vocabSize)));
  let model: Model | null = null;
  const orts: OrtDecoder[] = [];
  const what = `${m.name} batch ${B}`;
  try {
    model = new Model(gpu, cfg);
    const weights = initWeights(cfg, o.seed);
    model.loadWeights(weights);
    const mm = model;
    type Name = 'cached' | 'cachedF16' | 'cachedGpuPath' | 'noCache' | 'ort' | 'ortWebgpu';
    type Contender = { name: Name; run: (tokens: number) => Promise<number[][]>; ms: number[]; cpu: number[]; ids: number[][] };
    const contender = (name: Name, run: Contender['run']): Contender => ({ name, run, ms: [], cpu: [], ids: [] });
    const cachedRun = (kvCache: 'f32' | 'f16') => async (k: number) =>
      (await generate(mm, prompts, { maxNewTokens: k, greedy: true, eosIds: [], kvCache })).ids;
    const contenders: Contender[] = [contender('cached', cachedRun('f32')), contender('cachedF16', cachedRun('f16'))];
    if (gpu.rowKernels) contenders.push(contender('cachedGpuPath', (k) => onGpuPath(gpu, () => cachedRun('f32')(k))));
    contenders.push(contender('noCache', (k) => generateNoCache(mm, prompts, k)));
    const backends = o.ort ? (o.ortWebgpu ? (['wasm', 'webgpu'] as const) : (['wasm'] as const)) : [];
    for (const backend of backends) {
      try {
        const dec = await ortDecoder(cfg, weights, backend, gpu);
        orts.push(dec);
        contenders.push(contender(backend === 'wasm' ? 'ort' : 'ortWebgpu', (k) => dec.generate(prompts, k)));
      } catch (e) {
        errors.push({ section: 'decode', what: `onnxruntime-web (${backend}) ${what}`, message: errMsg(e) });
      }
    }
    // Two tokens already run every kernel of every path (prefill, one cached step), which is all a
    // warmup is for; without a cache a full-length warmup would cost as much as a timed run.
    for (const c of contenders) for (let i = 0; i < o.warmup; i++) await c.run(Math.min(n, 2));
    // Interleaved (A B C A B C ...), so a change in the machine's load falls on every contender alike.
    for (let r = 0; r < o.repeats; r++) {
      for (const c of contenders) {
        log(`decode ${what}: ${c.name} (${r + 1}/${o.repeats})`);
        const cpu0 = cpuMs();
        const t = performance.now();
        c.ids = await c.run(n);
        c.ms.push(performance.now() - t);
        c.cpu.push(cpuMs() - cpu0);
      }
    }
    for (const c of contenders) {
      const med = median(c.ms);
      row[c.name] = { ms: med, tokensPerS: (B * n) / (med / 1000), samplesMs: c.ms, cpuMs: median(c.cpu) };
    }
    if (row.cached && row.noCache) row.speedup = row.cached.tokensPerS / row.noCache.tokensPerS;
    if (row.cached && row.ort) row.vsOrt = row.cached.tokensPerS / row.ort.tokensPerS;
    if (gpu.hasTimestamps) row.breakdown = await decodeBreakdown(gpu, () => contenders[0].run(n), n);
    const ref = contenders[0].ids;
    const same = (c: Contender) => c.ids.length === B && c.ids.every((seq, b) => seq.length === ref[b].length && seq.every((t, i) => t === ref[b][i]));
    row.sameTokens = contenders.filter((c) => c.name !== 'cachedF16').every(same);
    row.f16SameTokens = same(contenders.find((c) => c.name === 'cachedF16')!);
  } catch (e) {
    errors.push({ section: 'decode', what: `engine ${what}`, message: errMsg(e) });
  } finally {
    model?.release();
    for (const d of orts) await d.release();
  }
  return row;
}

/** One profiled run: every dispatch in its own pass with timestamps (slower than the timed runs; it is about shares, not speed). */
async function kernelBreakdown(gpu: Gpu, run: () => Promise<unknown>, top = 6): Promise<KernelBreakdown> {
  const profiler = new KernelProfiler(gpu);
  gpu.profiler = profiler;
  try {
    const t = performance.now();
    await run();
    const wallMs = performance.now() - t;
    const rows = await profiler.report();
    return {
      dispatches: rows.reduce((a, r) => a + r.calls, 0),
      gpuMs: rows.reduce((a, r) => a + r.ms, 0),
      wallMs,
      top: rows.slice(0, top),
    };
  } finally {
    gpu.profiler = null;
  }
}

async function decodeBreakdown(gpu: Gpu, run: () => Promise<unknown>, n: number): Promise<DecodeBreakdown> {
  const b = await kernelBreakdown(gpu, run, 5);
  return { ...b, dispatchesPerToken: b.dispatches / n };
}

/** CPU time of this process so far, in ms (0 where there is no process: a browser). */
function cpuMs(): number {
  if (typeof process === 'undefined' || !process.cpuUsage) return 0;
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
