// Idefics3 (SmolVLM) as standard ONNX graphs (opset 17, default domain only), run by onnxruntime:
// a third reading of the model's semantics beside the engine and the float64 loops of llama-f64.ts,
// sharing no arithmetic with either.
//
// The vision graph is the SigLIP tower and the connector for a fixed number of tiles, written op by
// op from transformers' Idefics3VisionTransformer / Idefics3Connector: Conv (kernel = stride =
// patch, with bias) as the patch embedding, learned positions, pre-LayerNormalization encoder
// layers with biased multi-head attention (batched MatMul, Softmax, scale head_dim^-0.5, no mask)
// and a GELU-tanh MLP spelled with Tanh/Mul/Add, post_layernorm, then pixel_shuffle as the same
// view/permute/reshape chain transformers runs, and the bias-free projection. HF's [out, in]
// matrices enter as stored and are turned by Transpose nodes in the graph.
//
// The text decoder is the ONNX exporter's graph (src/io/onnx-export.ts, 'fixed' layout) fed with
// `inputs_embeds`: the `<image>` rows of the token embeddings are replaced by the image features on
// the host (a copy, no arithmetic), as Idefics3Model.inputs_merger does.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-web';
import { encodeLlamaOnnx, ONNX_FLOAT, OnnxGraphBuilder, valueInfo } from '../../src/io/onnx-export';
import { type ModelConfig, textPrefix } from '../../src/model/config';
import type { Weights } from './llama-f64';

const { onnx } = onnxProto;

function getter(weights: Weights): (name: string) => Float32Array {
  return (name) => {
    const w = weights.get(name);
    if (!w) throw new Error(`onnx idefics3 reference: missing weight ${name}`);
    return w;
  };
}

/**
 * The ModelProto bytes of the vision tower + connector for `nTiles` tiles: input `pixel_values`
 * [nTiles, C, S, S] (float32, already normalised), output `image_features` [nTiles, P / s^2, textHidden].
 */
export function buildIdefics3VisionOnnx(cfg: ModelConfig, weights: Weights, nTiles: number): Uint8Array {
  const v = cfg.idefics3;
  if (!v) throw new Error('onnx idefics3 reference: not an Idefics3 config');
  const { imageSize: S, patchSize: p, channels: C, hiddenSize: d, numHeads: H, intermediateSize: f, layerNormEps: eps, scaleFactor: s } = v;
  const G = S / p;
  const P = G * G;
  const hd = d / H;
  const D = cfg.text.hiddenSize;
  const n = nTiles;
  const weight = getter(weights);
  const g = new OnnxGraphBuilder();
  const init = (name: string, dims: number[]) => g.floatInit(name, dims, weight(name));
  const shape = (dims: number[]) => g.intInit('shape', dims);
  const reshape = (x: string, dims: number[]) => g.op('Reshape', [x, shape(dims)]);
  const transpose = (x: string, perm: number[]) => g.op('Transpose', [x], { perm });
  /** nn.Linear: x · Wᵀ + b, W [out, in] as stored in the checkpoint. */
  const linear = (x: string, name: string, outDim: number, inDim: number, bias: boolean) => {
    const y = g.op('MatMul', [x, transpose(init(`${name}.weight`, [outDim, inDim]), [1, 0])]);
    return bias ? g.op('Add', [y, init(`${name}.bias`, [outDim])]) : y;
  };
  const layerNorm = (x: string, name: string) =>
    g.op('LayerNormalization', [x, init(`${name}.weight`, [d]), init(`${name}.bias`, [d])], { axis: -1, epsilon: { float: eps } });
  const scalar = (hint: string, value: number) => g.floatInit(g.fresh(hint), [], [value]);

  const vm = 'model.vision_model.';
  // Idefics3VisionEmbeddings: Conv2d(C -> d, kernel = stride = p, "valid"), flatten(2).transpose(1, 2).
  const conv = g.op('Conv', ['pixel_values', init(`${vm}embeddings.patch_embedding.weight`, [d, C, p, p]), init(`${vm}embeddings.patch_embedding.bias`, [d])], {
    kernel_shape: [p, p],
    strides: [p, p],
  });
  // A full-size tile's position ids are 0..P-1 (bucketize over the whole grid), so the table adds as is.
  let x = g.op('Add', [transpose(reshape(conv, [n, d, P]), [0, 2, 1]), init(`${vm}embeddings.position_embedding.weight`, [P, d])]);

  const attnScale = scalar('attn_scale', hd ** -0.5);
  const half = scalar('half', 0.5);
  const one = scalar('one', 1);
  const geluC = scalar('sqrt_2_over_pi', Math.sqrt(2 / Math.PI));
  const geluK = scalar('gelu_k', 0.044715);
  for (let l = 0; l < v.numLayers; l++) {
    const lp = `${vm}encoder.layers.${l}.`;
    // Idefics3EncoderLayer: x += out_proj(attention(layer_norm1(x))).
    const h = layerNorm(x, `${lp}layer_norm1`);
    const heads = (y: string) => transpose(reshape(y, [n, P, H, hd]), [0, 2, 1, 3]); // [n, H, P, hd]
    const q = heads(linear(h, `${lp}self_attn.q_proj`, d, d, true));
    const k = heads(linear(h, `${lp}self_attn.k_proj`, d, d, true));
    const val = heads(linear(h, `${lp}self_attn.v_proj`, d, d, true));
    const scores = g.op('Mul', [g.op('MatMul', [q, transpose(k, [0, 1, 3, 2])]), attnScale]); // [n, H, P, P]
    const ctx = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), val]); // [n, H, P, hd]
    const merged = reshape(transpose(ctx, [0, 2, 1, 3]), [n, P, d]);
    x = g.op('Add', [x, linear(merged, `${lp}self_attn.out_proj`, d, d, true)]);
    // x += fc2(gelu_pytorch_tanh(fc1(layer_norm2(x)))), gelu = 0.5 u (1 + tanh(sqrt(2/pi) (u + 0.044715 u^3))).
    const u = linear(layerNorm(x, `${lp}layer_norm2`), `${lp}mlp.fc1`, f, d, true);
    const cube = g.op('Mul', [g.op('Mul', [u, u]), u]);
    const inner = g.op('Mul', [g.op('Add', [u, g.op('Mul', [cube, geluK])]), geluC]);
    const gelu = g.op('Mul', [g.op('Mul', [u, half]), g.op('Add', [g.op('Tanh', [inner]), one])]);
    x = g.op('Add', [x, linear(gelu, `${lp}mlp.fc2`, d, f, true)]);
  }
  const post = layerNorm(x, `${vm}post_layernorm`); // [n, P, d]

  // Idefics3Connector.pixel_shuffle, op for op: view [n, G, G, d] -> view [n, G, G/s, d*s] ->
  // permute(0, 2, 1, 3) -> reshape [n, G/s, G/s, d*s*s] -> permute(0, 2, 1, 3) -> reshape [n, P/s^2, d*s^2].
  const a = reshape(reshape(post, [n, G, G, d]), [n, G, G / s, d * s]);
  const b = reshape(transpose(a, [0, 2, 1, 3]), [n, G / s, G / s, d * s * s]);
  const shuffled = reshape(transpose(b, [0, 2, 1, 3]), [n, P / (s * s), d * s * s]);
  const feats = linear(shuffled, 'model.connector.modality_projection.proj', D, d * s * s, false);
  g.opTo('Identity', [feats], 'image_features');

  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'thinker-lab-reference',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'idefics3_vision',
      node: g.nodes,
      initializer: g.inits,
      input: [valueInfo('pixel_values', ONNX_FLOAT, [n, C, S, S])],
      output: [valueInfo('image_features', ONNX_FLOAT, [n, P / (s * s), D])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** The exporter's text graph for a fixed [B, T] that reads `inputs_embeds` [B, T, hidden]. */
export function buildIdefics3TextOnnx(cfg: ModelConfig, weights: Weights, B: number, T: number): Uint8Array {
  const weight = getter(weights);
  const prefix = textPrefix(cfg);
  // The exporter names the decoder's tensors model.*; an Idefics3 checkpoint keeps them under model.text_model.*.
  const get = (name: string) => weight(name.startsWith('model.') ? prefix + name.slice('model.'.length) : name);
  return encodeLlamaOnnx({ text: cfg.text }, get, { layout: { kind: 'fixed', B, T }, inputsEmbeds: true, producer: 'thinker-lab-reference' });
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

/** Run a one-output graph with optimizations off, so the session executes the declared standard ops, not fused replacements. */
export async function runGraph(bytes: Uint8Array, feeds: Record<string, ort.Tensor>, output: string): Promise<Float32Array> {
  configureOrt();
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'disabled' });
  try {
    const out = await session.run(feeds);
    return new Float32Array(out[output].data as Float32Array);
  } finally {
    await session.release();
  }
}

/** Image features [nTiles * P / s^2, textHidden] of tiles [nTiles, C, S, S], by the ONNX vision graph. */
export async function onnxIdefics3Features(cfg: ModelConfig, weights: Weights, tiles: Float32Array): Promise<Float32Array> {
  const v = cfg.idefics3;
  if (!v) throw new Error('onnx idefics3 reference: not an Idefics3 config');
  const per = v.channels * v.imageSize * v.imageSize;
  const n = tiles.length / per;
  if (!Number.isInteger(n) || n < 1) throw new Error(`onnx idefics3 reference: ${tiles.length} values are not whole tiles of ${per}`);
  const input = new ort.Tensor('float32', tiles, [n, v.channels, v.imageSize, v.imageSize]);
  return runGraph(buildIdefics3VisionOnnx(cfg, weights, n), { pixel_values: input }, 'image_features');
}

/**
 * Logits [B, T, V] and image features of an Idefics3 model on token ids with tiles: the vision
 * graph's features replace the embeddings of the `<image>` tokens in order (batch, then
 * position), and the text graph runs on the merged embeddings.
 */
export async function onnxIdefics3Logits(
  cfg: ModelConfig,
  weights: Weights,
  ids: number[][],
  tiles: Float32Array,
): Promise<{ logits: Float32Array; features: Float32Array }> {
  const features = await onnxIdefics3Features(cfg, weights, tiles);
  const { hiddenSize: d, vocabSize: V } = cfg.text;
  const B = ids.length;
  const T = B ? ids[0].length : 0;
  const table = getter(weights)(`${textPrefix(cfg)}embed_tokens.weight`);
  const embeds = new Float32Array(B * T * d);
  let next = 0;
  for (let b = 0; b < B; b++) {
    if (ids[b].length !== T) throw new Error('onnx idefics3 reference: sequences must have equal length');
    for (let t = 0; t < T; t++) {
      const id = ids[b][t];
      if (!(Number.isInteger(id) && id >= 0 && id < V)) throw new Error(`onnx idefics3 reference: token id ${id} outside the vocabulary`);
      const row = (b * T + t) * d;
      if (id === cfg.imageTokenId) {
        if ((next + 1) * d > features.length) throw new Error('onnx idefics3 reference: more <image> tokens than image feature rows');
        embeds.set(features.subarray(next * d, (next + 1) * d), row);
        next++;
      } else {
        embeds.set(table.subarray(id * d, (id + 1) * d), row);
      }
    }
  }
  if (next * d !== features.length) throw new Error(`onnx idefics3 reference: ${features.length / d} image feature rows but ${next} <image> tokens`);
  const input = new ort.Tensor('float32', embeds, [B, T, d]);
  const logits = await runGraph(buildIdefics3TextOnnx(cfg, weights, B, T), { inputs_embeds: input }, 'logits');
  return { logits, features };
}
