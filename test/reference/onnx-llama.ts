// The text model as a standard ONNX graph (opset 17, default domain only), run by onnxruntime-web's
// WASM CPU backend. The graph is the ONNX exporter's (src/io/onnx-export.ts) in its fixed-shape
// layout, so the reference also vouches for what `thinker export-onnx` writes. It shares no
// arithmetic with llama-f64.ts or with the engine: attention is batched MatMuls with an additive
// causal mask, GQA is a broadcast over a [B, KV, rep, T, hd] view, and RoPE is a constant cos/sin
// table (float64, rounded once) with Slice/Neg/Concat for rotate_half. Agreement between them is
// the evidence that all read the transformers semantics the same way.

import { pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import * as ort from 'onnxruntime-web';
import type { ModelConfig } from '../../src/model/config';
import type { Weights } from './llama-f64';
import { encodeLlamaOnnx } from '../../src/io/onnx-export';

/** The ONNX ModelProto bytes of the text model for a fixed [B, T] input: the exporter's graph (src/io/onnx-export.ts) in its fixed layout. */
export function buildOnnxModel(cfg: ModelConfig, weights: Weights, B: number, T: number): Uint8Array {
  const weight = (name: string): Float32Array => {
    const w = weights.get(name);
    if (!w) throw new Error(`onnx reference: missing weight ${name}`);
    return w;
  };
  return encodeLlamaOnnx(cfg, weight, { layout: { kind: 'fixed', B, T }, producer: 'thinker-lab-reference' });
}

let configured = false;
function configureOrt(): void {
  if (configured) return;
  // The package's own dist folder, found through Node's resolver so no CDN is ever contacted.
  const entry = createRequire(import.meta.url).resolve('onnxruntime-web');
  ort.env.wasm.wasmPaths = pathToFileURL(join(dirname(entry), '/')).href;
  ort.env.wasm.numThreads = 1;
  configured = true;
}

/** Logits [B, T, V] (float32) of the ONNX graph for a batch of equal-length sequences. */
export async function onnxLogits(cfg: ModelConfig, weights: Weights, ids: number[][]): Promise<Float32Array> {
  const B = ids.length;
  const T = B ? ids[0].length : 0;
  for (const s of ids) if (s.length !== T) throw new Error('onnx reference: sequences must have equal length');
  configureOrt();
  const bytes = buildOnnxModel(cfg, weights, B, T);
  // Optimizations off: the session should execute exactly the declared standard ops, not fused
  // replacements, so this stays a reading of the graph rather than of ORT's kernels.
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'disabled' });
  try {
    const input = new ort.Tensor('int64', BigInt64Array.from(ids.flat().map((x) => BigInt(x))), [B, T]);
    const out = await session.run({ input_ids: input });
    const logits = out.logits;
    return new Float32Array(logits.data as Float32Array);
  } finally {
    await session.release();
  }
}
