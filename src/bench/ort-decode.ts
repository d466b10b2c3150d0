// The decode bench's outside contender: the same model exported to ONNX (src/io/onnx-export.ts,
// the KV-cache layout transformers.js loads) and decoded greedily by onnxruntime-web's WASM CPU
// backend in Node, one thread, with its own past/present KV tensors. Same weights and prompts as
// the engine, so the tokens must agree; the time is ORT's, plus a JS argmax per step.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Ort from 'onnxruntime-web';
import { encodeLlamaOnnx } from '../io/onnx-export';
import type { ModelConfig } from '../model/config';
import type { WeightMap } from '../model/model';

export interface OrtDecoder {
  /** Greedy tokens for prompts of one length, decoded together. */
  generate(prompts: number[][], n: number): Promise<number[][]>;
  release(): Promise<void>;
}

let ortModule: Promise<typeof Ort> | null = null;
async function loadOrt(): Promise<typeof Ort> {
  ortModule ??= import('onnxruntime-web').then((ort) => {
    // The package's own WASM files, found through Node's resolver: nothing is fetched.
    const entry = createRequire(import.meta.url).resolve('onnxruntime-web');
    ort.env.wasm.wasmPaths = pathToFileURL(join(dirname(entry), '/')).href;
    ort.env.wasm.numThreads = 1;
    return ort;
  });
  return ortModule;
}

export async function ortDecoder(cfg: ModelConfig, weights: WeightMap): Promise<OrtDecoder> {
  const ort = await loadOrt();
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
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  const t = cfg.text;
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
        const logits = res.logits.data as Float32Array;
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
