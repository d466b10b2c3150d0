// The decode bench's outside contenders: the same model exported to ONNX (src/io/onnx-export.ts,
// the KV-cache layout transformers.js loads) and decoded greedily by onnxruntime-web in Node with
// its own past/present KV tensors: the WASM CPU backend on one thread, and the WebGPU execution
// provider on the engine's own GPUDevice (the same adapter, as TF.js in tfjs-webgpu.ts), its KV
// tensors kept on the GPU between steps as transformers.js keeps them. Same weights and prompts as
// the engine, so the tokens must agree; the time is ORT's, plus a JS argmax per step.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Ort from 'onnxruntime-web';
import { encodeLlamaOnnx } from '../io/onnx-export';
import type { ModelConfig } from '../model/config';
import type { WeightMap } from '../model/model';
import type { Gpu } from '../engine/gpu';
import { ensureNavigatorGpu } from './navigator-gpu';

/** Where ORT runs the model: its WASM CPU backend, or its WebGPU execution provider. */
export type OrtBackend = 'wasm' | 'webgpu';

export interface OrtDecoder {
  /** Greedy tokens for prompts of one length, decoded together. */
  generate(prompts: number[][], n: number): Promise<number[][]>;
  release(): Promise<void>;
}

const ortModules = new Map<OrtBackend, Promise<typeof Ort>>();
/**
 * The package's Node build has the WASM backend only; the WebGPU one is its webgpu bundle, loaded
 * by path (the package's exports send Node to the Node build). Both use the package's own WASM
 * files, found through Node's resolver: nothing is fetched.
 */
function loadOrt(backend: OrtBackend): Promise<typeof Ort> {
  let m = ortModules.get(backend);
  if (!m) {
    const dir = dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
    const load = backend === 'wasm' ? import('onnxruntime-web') : (import(pathToFileURL(join(dir, 'ort.webgpu.min.mjs')).href) as Promise<typeof Ort>);
    m = load.then((ort) => {
      ort.env.wasm.wasmPaths = pathToFileURL(join(dir, '/')).href;
      ort.env.wasm.numThreads = 1;
      return ort;
    });
    ortModules.set(backend, m);
  }
  return m;
}

/**
 * ORT's WASM heap is a SharedArrayBuffer, and it uploads with views of it; Dawn in Node refuses
 * those ("Invalid argument"), browsers take them. Dawn hands out a fresh queue object per access,
 * so the queues' shared writeBuffer is wrapped: a shared view is copied into an ordinary buffer
 * first; anything else (all the engine's writes) goes straight through.
 */
function shareableWrites(queue: GPUQueue): void {
  const proto = Object.getPrototypeOf(queue) as GPUQueue & { thinkerShared?: true };
  if (proto.thinkerShared) return;
  const write = proto.writeBuffer;
  proto.writeBuffer = function (this: GPUQueue, buffer: GPUBuffer, offset: number, data: BufferSource, dataOffset?: number, size?: number) {
    if (!(ArrayBuffer.isView(data) && typeof SharedArrayBuffer !== 'undefined' && data.buffer instanceof SharedArrayBuffer)) {
      return write.call(this, buffer, offset, data, dataOffset, size);
    }
    const el = (data as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    return write.call(this, buffer, offset, bytes, (dataOffset ?? 0) * el, size === undefined ? undefined : size * el);
  } as GPUQueue['writeBuffer'];
  proto.thinkerShared = true;
}

/** `gpu` is the device the WebGPU backend runs on (required for it, unused by WASM). */
export async function ortDecoder(cfg: ModelConfig, weights: WeightMap, backend: OrtBackend = 'wasm', gpu?: Gpu): Promise<OrtDecoder> {
  const ort = await loadOrt(backend);
  if (backend === 'webgpu') {
    if (!gpu) throw new Error('ort decode: the WebGPU backend needs the engine device');
    // Set before the first session: ORT then runs on this device instead of requesting its own.
    ensureNavigatorGpu(gpu.source);
    shareableWrites(gpu.device.queue);
    ort.env.webgpu.device = gpu.device;
  }
  const bytes = encodeLlamaOnnx(
    cfg,
    (name) => {
      const w = weights.get(name);
      if (!w) throw new Error(`ort decode: missing weight ${name}`);
      return w.data;
    },
    { layout: { kind: 'cache' }, producer: 'thinker-lab-bench' },
  );
  // ORT's default graph optimizations on: this is ORT as an app would run it, not a reference.
  const t = cfg.text;
  // On WebGPU the present KV tensors stay GPU buffers and are fed back as the next step's past.
  const presents = Array.from({ length: t.numLayers }, (_, l) => [`present.${l}.key`, `present.${l}.value`]).flat();
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: [backend],
    // Errors only: its WebGPU provider warns on every session that shape ops run on the CPU.
    logSeverityLevel: 3,
    ...(backend === 'webgpu' ? { preferredOutputLocation: Object.fromEntries(presents.map((n) => [n, 'gpu-buffer' as const])) } : {}),
  });
  const V = t.vocabSize;
  const i64 = (xs: number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(xs.map((x) => BigInt(x))), dims);
  return {
    async generate(prompts, n) {
      const B = prompts.length;
      const T0 = prompts[0]?.length ?? 0;
      if (prompts.some((p) => p.length !== T0)) throw new Error('ort decode: prompts must be of one length');
      const out: number[][] = prompts.map(() => []);
      let past: Record<string, Ort.Tensor> = {};
      for (let l = 0; l < t.numLayers; l++) {
        for (const kv of ['key', 'value']) past[`past_key_values.${l}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [B, t.numKvHeads, 0, t.headDim]);
      }
      let ids = prompts.flat();
      let T = T0;
      for (let step = 0; step < n; step++) {
        const done = step === 0 ? 0 : T0 + step - 1;
        const total = done + T;
        const feeds: Record<string, Ort.Tensor> = {
          input_ids: i64(ids, [B, T]),
          attention_mask: i64(new Array(B * total).fill(1), [B, total]),
          position_ids: i64(
            Array.from({ length: B * T }, (_, j) => done + (j % T)),
            [B, T],
          ),
          ...past,
        };
        const res = await session.run(feeds);
        const logits = (await res.logits.getData()) as Float32Array;
        const next: number[] = [];
        for (let b = 0; b < B; b++) {
          const row = (b * T + T - 1) * V;
          let best = 0;
          for (let v = 1; v < V; v++) if (logits[row + v] > logits[row + best]) best = v;
          out[b].push(best);
          next.push(best);
        }
        const nextPast: Record<string, Ort.Tensor> = {};
        for (let l = 0; l < t.numLayers; l++) {
          for (const kv of ['key', 'value']) nextPast[`past_key_values.${l}.${kv}`] = res[`present.${l}.${kv}`];
        }
        for (const x of Object.values(past)) x.dispose();
        res.logits.dispose();
        past = nextPast;
        ids = next;
        T = 1;
      }
      for (const x of Object.values(past)) x.dispose();
      return out;
    },
    release: () => session.release(),
  };
}
