// A lab model's text decoder as an ONNX graph (opset 17, default domain only), in two layouts:
//   - 'cache': the layout transformers.js loads as a text-generation model (what Optimum exports for
//     LlamaForCausalLM): inputs input_ids, attention_mask, position_ids and past_key_values.N.key/value
//     [batch, kv_heads, past, head_dim]; outputs logits and present.N.key/value. Dynamic batch and
//     lengths, RoPE from position_ids, padding and causality from the attention mask.
//   - 'fixed': one [B, T] shape, input_ids only, a constant causal mask and a float64-computed RoPE
//     table; the test reference (test/reference/onnx-llama.ts) uses it to check the engine.
// Both share every layer; only how the rotary tables and the mask arrive differs. Nothing here reads
// the engine's kernels, so agreement between this graph and the engine is evidence about both.
//
// `exportOnnxFolder` writes a folder that transformers.js (and any ONNX Runtime app) runs:
// onnx/model.onnx, config.json, generation_config.json, tokenizer.json, tokenizer_config.json with a
// chat template that renders the lab's chat format (src/task/prompt.ts).

import onnxProto from 'onnx-proto';
import { InputError } from '../engine/errors';
import { hasVision, isFrozen, textPrefix, type ModelConfig } from '../model/config';
import { CHAT } from './chat';
import { encodeJson, joinWhere, readJson, type FileSink, type FileSource } from './files';
import { configToHfJson, generationConfigJson, loadHfFolder, ropeInvFreqFromConfig, textConfigJson } from './hf-config';

const { onnx } = onnxProto;
type INode = import('onnx-proto').onnx.INodeProto;
type ITensor = import('onnx-proto').onnx.ITensorProto;
type IAttr = import('onnx-proto').onnx.IAttributeProto;
type IValueInfo = import('onnx-proto').onnx.IValueInfoProto;
type ModelProto = import('onnx-proto').onnx.ModelProto;

export const ONNX_FLOAT = onnx.TensorProto.DataType.FLOAT;
export const ONNX_INT64 = onnx.TensorProto.DataType.INT64;
const ONNX_BOOL = onnx.TensorProto.DataType.BOOL;
const A = onnx.AttributeProto.AttributeType;

type AttrValue = number | number[] | { float: number } | { tensor: ITensor };

/** Accumulates nodes and initializers with unique value names. */
export class OnnxGraphBuilder {
  nodes: INode[] = [];
  inits: ITensor[] = [];
  /** Bytes of tensor data held by the initializers (the file is about this big). */
  dataBytes = 0;
  private n = 0;

  fresh(hint: string): string {
    return `${hint}_${this.n++}`;
  }

  floatInit(name: string, dims: number[], data: ArrayLike<number>): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (data.length !== count) throw new Error(`onnx graph: initializer ${name} has ${data.length} values, expected ${dims.join('x')}`);
    const f = data instanceof Float32Array ? data : Float32Array.from(data);
    // A view of exactly the tensor's bytes (the array may be a view into a larger buffer).
    this.inits.push({ name, dims, dataType: ONNX_FLOAT, rawData: new Uint8Array(f.buffer, f.byteOffset, f.byteLength) });
    this.dataBytes += f.byteLength;
    return name;
  }

  /** int64 constant (shapes, axes, slice bounds), raw little-endian bytes so no Long is needed. */
  intInit(hint: string, values: number[], dims: number[] = [values.length]): string {
    const name = this.fresh(hint);
    const v = BigInt64Array.from(values.map((x) => BigInt(x)));
    this.inits.push({ name, dims, dataType: ONNX_INT64, rawData: new Uint8Array(v.buffer) });
    return name;
  }

  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, hint = opType): string {
    return this.opTo(opType, inputs, this.fresh(hint), attrs);
  }

  /** A node whose output has a given name (graph outputs). */
  opTo(opType: string, inputs: string[], out: string, attrs: Record<string, AttrValue> = {}): string {
    const attribute: IAttr[] = Object.entries(attrs).map(([name, v]) => {
      if (Array.isArray(v)) return { name, type: A.INTS, ints: v };
      if (typeof v === 'number') return { name, type: A.INT, i: v };
      if ('tensor' in v) return { name, type: A.TENSOR, t: v.tensor };
      return { name, type: A.FLOAT, f: v.float };
    });
    this.nodes.push({ opType, input: inputs, output: [out], attribute, name: out });
    return out;
  }
}

/** A graph input or output; string dims are symbolic (dynamic). */
export function valueInfo(name: string, elemType: number, dims: (number | string)[]): IValueInfo {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

/** [out, in] Hugging Face weight stored as its [in, out] transpose so that y = MatMul(x, Wᵀ). */
function transposed(w: Float32Array, outDim: number, inDim: number): Float32Array {
  const t = new Float32Array(w.length);
  for (let o = 0; o < outDim; o++) for (let i = 0; i < inDim; i++) t[i * outDim + o] = w[o * inDim + i];
  return t;
}

export type GraphLayout = { kind: 'fixed'; B: number; T: number } | { kind: 'cache' };

export interface LlamaGraphOptions {
  layout: GraphLayout;
  /**
   * Rotary inverse frequencies [head_dim / 2] ('cache' layout), e.g. ropeInvFreqFromConfig of the
   * model's config.json so rope scaling carries over; default theta^(-2i/hd). The 'fixed' layout
   * always computes its table from ropeTheta in float64.
   */
  invFreq?: Float32Array;
  /**
   * 'fixed' layout only: the graph reads `inputs_embeds` [B, T, hidden] (float) instead of
   * `input_ids`, so a caller can merge image features into the embeddings first (Idefics3's
   * merge). The embedding table is then no input of the graph (unless the head is tied to it).
   */
  inputsEmbeds?: boolean;
  producer?: string;
}

/** ONNX cannot store a model over 2 GiB in one protobuf; the lab's largest preset is ~120 MB. */
const MAX_INLINE_BYTES = 2 ** 31 - 2 ** 24;

/** The ONNX ModelProto of the text decoder. `weight(name)` gives each HF tensor, row-major. */
export function buildLlamaGraph(cfg: ModelConfig, weight: (name: string) => Float32Array, o: LlamaGraphOptions): ModelProto {
  const t = cfg.text;
  const { hiddenSize: d, intermediateSize: f, numHeads: H, numKvHeads: KV, headDim: hd, vocabSize: V } = t;
  const rep = H / KV;
  const half = hd / 2;
  const cache = o.layout.kind === 'cache';
  if (o.inputsEmbeds && cache) throw new Error("onnx graph: inputsEmbeds needs the 'fixed' layout");
  if (o.layout.kind === 'fixed' && !(o.layout.B > 0 && o.layout.T > 0)) {
    throw new Error(`onnx graph: B and T must be positive, got ${o.layout.B}, ${o.layout.T}`);
  }
  const g = new OnnxGraphBuilder();

  const linear = (x: string, name: string, outDim: number, inDim: number, bias: boolean): string => {
    const wt = g.floatInit(`${name}.weight.T`, [inDim, outDim], transposed(weight(`${name}.weight`), outDim, inDim));
    let y = g.op('MatMul', [x, wt]);
    if (bias) y = g.op('Add', [y, g.floatInit(`${name}.bias`, [outDim], weight(`${name}.bias`))]);
    return y;
  };

  const eps = g.floatInit('rms_eps', [], [t.rmsNormEps]);
  const rmsNorm = (x: string, wname: string): string => {
    const ms = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
    const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [ms, eps])])]);
    return g.op('Mul', [g.op('Mul', [x, inv]), g.floatInit(wname, [d], weight(wname))]);
  };

  // Rotary tables cos/sin broadcastable against [B, heads, T, hd], and an additive attention mask
  // broadcastable against the scores [B, KV, rep, T, S].
  let cos: string;
  let sin: string;
  let mask: string;
  const inputs: IValueInfo[] = [];
  const outputs: IValueInfo[] = [];
  if (o.layout.kind === 'fixed') {
    const { B, T } = o.layout;
    // cat(freqs, freqs) at positions 0..T-1, computed in float64 then rounded once.
    const cosT = new Float32Array(T * hd);
    const sinT = new Float32Array(T * hd);
    for (let p = 0; p < T; p++) {
      for (let i = 0; i < half; i++) {
        const a = p / Math.pow(t.ropeTheta, (2 * i) / hd);
        cosT[p * hd + i] = cosT[p * hd + i + half] = Math.cos(a);
        sinT[p * hd + i] = sinT[p * hd + i + half] = Math.sin(a);
      }
    }
    cos = g.floatInit('rope_cos', [T, hd], cosT);
    sin = g.floatInit('rope_sin', [T, hd], sinT);
    // Key j > query i gets a large negative score, so its softmax weight is 0.
    const maskData = new Float32Array(T * T);
    for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) maskData[i * T + j] = -1e9;
    mask = g.floatInit('causal_mask', [T, T], maskData);
    inputs.push(o.inputsEmbeds ? valueInfo('inputs_embeds', ONNX_FLOAT, [B, T, d]) : valueInfo('input_ids', ONNX_INT64, [B, T]));
    outputs.push(valueInfo('logits', ONNX_FLOAT, [B, T, V]));
  } else {
    inputs.push(
      valueInfo('input_ids', ONNX_INT64, ['batch_size', 'sequence_length']),
      valueInfo('attention_mask', ONNX_INT64, ['batch_size', 'total_sequence_length']),
      valueInfo('position_ids', ONNX_INT64, ['batch_size', 'sequence_length']),
    );
    for (let l = 0; l < t.numLayers; l++) {
      for (const kv of ['key', 'value']) inputs.push(valueInfo(`past_key_values.${l}.${kv}`, ONNX_FLOAT, ['batch_size', KV, 'past_sequence_length', hd]));
    }
    outputs.push(valueInfo('logits', ONNX_FLOAT, ['batch_size', 'sequence_length', V]));
    for (let l = 0; l < t.numLayers; l++) {
      for (const kv of ['key', 'value']) outputs.push(valueInfo(`present.${l}.${kv}`, ONNX_FLOAT, ['batch_size', KV, 'total_sequence_length', hd]));
    }

    // Angles position * inv_freq in float32, as transformers computes them.
    const inv = o.invFreq ?? Float32Array.from({ length: half }, (_, i) => 1 / Math.pow(t.ropeTheta, (2 * i) / hd));
    if (inv.length !== half) throw new Error(`onnx graph: invFreq has ${inv.length} values, expected head_dim/2 = ${half}`);
    const pos = g.op('Unsqueeze', [g.op('Cast', ['position_ids'], { to: ONNX_FLOAT }), g.intInit('axes', [2])]); // [B, T, 1]
    const freqs = g.op('Mul', [pos, g.floatInit('rope_inv_freq', [half], inv)]); // [B, T, hd/2]
    const emb = g.op('Unsqueeze', [g.op('Concat', [freqs, freqs], { axis: -1 }), g.intInit('axes', [1])]); // [B, 1, T, hd]
    cos = g.op('Cos', [emb]);
    sin = g.op('Sin', [emb]);

    // Query i sits at absolute position past + i and may see keys 0..past+i that the attention
    // mask does not mark as padding.
    const scalar = (x: string) => g.op('Squeeze', [x, g.intInit('axes', [0])]);
    const past = g.op('Shape', ['past_key_values.0.key'], { start: 2, end: 3 });
    const total = g.op('Shape', ['attention_mask'], { start: 1, end: 2 });
    const one = g.intInit('one', [1], []);
    const zero = g.intInit('zero', [0], []);
    const kIdx = g.op('Range', [zero, scalar(total), one]); // [S]
    const qIdx = g.op('Range', [scalar(past), scalar(total), one]); // [T]
    const causal = g.op('LessOrEqual', [g.op('Unsqueeze', [kIdx, g.intInit('axes', [0])]), g.op('Unsqueeze', [qIdx, g.intInit('axes', [1])])]); // [T, S]
    const keep = g.op('Unsqueeze', [g.op('Cast', ['attention_mask'], { to: ONNX_BOOL }), g.intInit('axes', [1, 2, 3])]); // [B, 1, 1, 1, S]
    const allowed = g.op('And', [keep, causal]); // [B, 1, 1, T, S]
    mask = g.op('Where', [allowed, g.floatInit('mask_open', [], [0]), g.floatInit('mask_closed', [], [-1e9])]);
  }

  const lastAxis = g.intInit('axis', [3]);
  const lo = g.intInit('zero', [0]);
  const mid = g.intInit('half', [half]);
  const hi = g.intInit('hd', [hd]);
  /** x [B, heads, T, hd] -> x*cos + rotate_half(x)*sin. */
  const rope = (x: string): string => {
    const x1 = g.op('Slice', [x, lo, mid, lastAxis]);
    const x2 = g.op('Slice', [x, mid, hi, lastAxis]);
    const rot = g.op('Concat', [g.op('Neg', [x2]), x1], { axis: 3 });
    return g.op('Add', [g.op('Mul', [x, cos]), g.op('Mul', [rot, sin])]);
  };
  const scale = g.floatInit('attn_scale', [], [1 / Math.sqrt(hd)]);

  // Reshape's 0 copies the input's dimension and -1 infers one, so the same shapes serve fixed and
  // dynamic batch and lengths.
  const shapeHeads = (n: number) => g.intInit('shape', [0, 0, n, hd]);
  const shapeGroups = g.intInit('shape', [0, KV, rep, -1, hd]);
  const shapeCtx = g.intInit('shape', [0, H, -1, hd]);
  const shapeFlat = g.intInit('shape', [0, 0, H * hd]);
  const axis2 = g.intInit('axes', [2]);

  const embedTable = () => g.floatInit('model.embed_tokens.weight', [V, d], weight('model.embed_tokens.weight'));
  let x = o.inputsEmbeds ? 'inputs_embeds' : g.op('Gather', [embedTable(), 'input_ids'], { axis: 0 });
  for (let l = 0; l < t.numLayers; l++) {
    const p = `model.layers.${l}.`;
    const h = rmsNorm(x, `${p}input_layernorm.weight`);
    // [B, T, n*hd] -> [B, n, T, hd]
    const heads = (y: string, n: number) => g.op('Transpose', [g.op('Reshape', [y, shapeHeads(n)])], { perm: [0, 2, 1, 3] });
    const q = rope(heads(linear(h, `${p}self_attn.q_proj`, H * hd, d, t.qkvBias), H));
    let k = rope(heads(linear(h, `${p}self_attn.k_proj`, KV * hd, d, t.qkvBias), KV));
    let v = heads(linear(h, `${p}self_attn.v_proj`, KV * hd, d, t.qkvBias), KV);
    if (cache) {
      // The cache holds keys after RoPE, as transformers' DynamicCache does.
      k = g.opTo('Concat', [`past_key_values.${l}.key`, k], `present.${l}.key`, { axis: 2 });
      v = g.opTo('Concat', [`past_key_values.${l}.value`, v], `present.${l}.value`, { axis: 2 });
    }
    // Query heads kv*rep .. kv*rep+rep-1 share key/value head kv (repeat_kv order); MatMul
    // broadcasting over the size-1 axis does the sharing.
    const q5 = g.op('Reshape', [q, shapeGroups]);
    const k5 = g.op('Unsqueeze', [k, axis2]);
    const v5 = g.op('Unsqueeze', [v, axis2]);
    const kT = g.op('Transpose', [k5], { perm: [0, 1, 2, 4, 3] });
    const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [q5, kT]), scale]), mask]);
    const probs = g.op('Softmax', [scores], { axis: -1 });
    const ctx = g.op('MatMul', [probs, v5]); // [B, KV, rep, T, hd]
    const ctxHeads = g.op('Reshape', [ctx, shapeCtx]);
    const merged = g.op('Reshape', [g.op('Transpose', [ctxHeads], { perm: [0, 2, 1, 3] }), shapeFlat]);
    x = g.op('Add', [x, linear(merged, `${p}self_attn.o_proj`, d, H * hd, t.oBias)]);

    const h2 = rmsNorm(x, `${p}post_attention_layernorm.weight`);
    const gate = linear(h2, `${p}mlp.gate_proj`, f, d, t.mlpBias);
    const up = linear(h2, `${p}mlp.up_proj`, f, d, t.mlpBias);
    const act = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
    x = g.op('Add', [x, linear(act, `${p}mlp.down_proj`, d, f, t.mlpBias)]);
  }
  const hFinal = rmsNorm(x, 'model.norm.weight');
  if (t.tieWordEmbeddings) {
    // The same initializer as the Gather, read through a Transpose node: tying is one tensor.
    const table = o.inputsEmbeds ? embedTable() : 'model.embed_tokens.weight';
    g.opTo('MatMul', [hFinal, g.op('Transpose', [table], { perm: [1, 0] })], 'logits');
  } else {
    g.opTo('Identity', [linear(hFinal, 'lm_head', V, d, false)], 'logits');
  }

  if (g.dataBytes > MAX_INLINE_BYTES) {
    throw new InputError(
      'onnx export',
      `the weights take ${(g.dataBytes / 2 ** 30).toFixed(2)} GiB; one ONNX file holds at most 2 GiB (external data is not written by this exporter)`,
    );
  }
  return onnx.ModelProto.create({
    irVersion: 8,
    producerName: o.producer ?? 'thinker-lab',
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'llama_text', node: g.nodes, initializer: g.inits, input: inputs, output: outputs },
  });
}

/** buildLlamaGraph, encoded. */
export function encodeLlamaOnnx(cfg: ModelConfig, weight: (name: string) => Float32Array, o: LlamaGraphOptions): Uint8Array {
  return onnx.ModelProto.encode(buildLlamaGraph(cfg, weight, o)).finish();
}

// ---------------------------------------------------------------------------------------------
// The transformers.js folder.

/**
 * A Jinja chat template that renders the lab's chat format exactly as chatPrompt does: the default
 * system turn when the conversation has none, then each turn; an image part renders as the run of
 * `<image>` placeholders a lab VLM expects (`image_tokens` of them; 0 for a text-only export).
 * Newlines are in string literals so no whitespace control can eat them.
 */
export function labChatTemplate(imageTokens: number, defaultSystem: string = CHAT.defaultSystem): string {
  const nl = '\\n';
  const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n');
  const images = imageTokens > 0 ? `{{ '${CHAT.image.repeat(imageTokens)}' }}` : '';
  return [
    `{% if messages[0]['role'] != 'system' %}{{ '${CHAT.start}system${nl}${esc(defaultSystem)}${CHAT.end}${nl}' }}{% endif %}`,
    `{% for message in messages %}{{ '${CHAT.start}' + message['role'] + '${nl}' }}`,
    `{% if message['content'] is string %}{{ message['content'] }}{% else %}`,
    // Images first, then text, as the recipe's user turn is laid out.
    `{% for part in message['content'] %}{% if part['type'] == 'image' %}${images}{% endif %}{% endfor %}`,
    `{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}`,
    `{% endif %}{{ '${CHAT.end}${nl}' }}{% endfor %}`,
    `{% if add_generation_prompt %}{{ '${CHAT.start}assistant${nl}' }}{% endif %}`,
  ].join('');
}

export interface OnnxExportReport {
  files: string[];
  /** Bytes of onnx/model.onnx. */
  onnxBytes: number;
  params: number;
  /** Set when the source had a vision encoder, which the export leaves out. */
  droppedVision: boolean;
  architecture: string;
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Export a lab model folder (config.json, safetensors, tokenizer files) as a transformers.js
 * text-generation folder. The vision encoder is not exported: transformers.js has no class for the
 * lab's encoder, so the export answers text questions only (it says so in the report).
 */
export async function exportOnnxFolder(src: FileSource, sink: FileSink, o: { where?: string } = {}): Promise<OnnxExportReport> {
  const where = o.where ?? src.name;
  // Everything is read and checked before anything is written.
  const { config, configJson, weights } = await loadHfFolder(src, where);
  if (!(await src.exists('tokenizer.json')))
    throw new InputError(where, 'no tokenizer.json in this folder: transformers.js needs the tokenizer beside the model');
  const tokenizerJson = await src.read('tokenizer.json');
  const tokConfig = (await src.exists('tokenizer_config.json')) ? await readJson(src, 'tokenizer_config.json', where) : {};
  if (!isObj(tokConfig)) throw new InputError(joinWhere(where, 'tokenizer_config.json'), 'must be a JSON object');
  const invFreq = ropeInvFreqFromConfig(textConfigJson(configJson), joinWhere(where, 'config.json'));

  const text: ModelConfig = { text: config.text };
  // An Idefics3 decoder keeps its checkpoint's names (model.text_model.*): the text graph reads them there.
  const prefix = textPrefix(config);
  const get = (name: string) => {
    const w = weights.get(name.startsWith('model.') ? prefix + name.slice('model.'.length) : name);
    if (!w) throw new InputError(where, `tensor ${name} is missing`);
    return w.data;
  };
  const bytes = encodeLlamaOnnx(text, get, { layout: { kind: 'cache' }, invFreq, producer: 'thinker-lab export-onnx' });

  const hfConfig: Json = configToHfJson(text, { ropeScaling: configJson.rope_scaling ?? configJson.rope_parameters ?? null });
  // Without this, transformers.js on WASM asks for model_quantized.onnx; the export holds fp32 only.
  hfConfig['transformers.js_config'] = { dtype: 'fp32', use_external_data_format: false };
  const tokenizerConfig: Json = { ...tokConfig };
  tokenizerConfig.chat_template = labChatTemplate(0);
  // transformers.js needs a tokenizer_class to pick its tokenizer; a byte-level BPE is GPT-2's.
  tokenizerConfig.tokenizer_class ??= 'PreTrainedTokenizerFast';
  tokenizerConfig.eos_token ??= CHAT.end;
  const gen = generationConfigJson(text);
  if (gen.eos_token_id === undefined) {
    const end = tokenIdOf(tokenizerJson, CHAT.end);
    if (end !== undefined) gen.eos_token_id = end;
  }

  const written: string[] = [];
  const put = async (path: string, data: Uint8Array) => {
    await sink.write(path, data);
    written.push(path);
  };
  await put('onnx/model.onnx', bytes);
  await put('tokenizer.json', tokenizerJson);
  await put('tokenizer_config.json', encodeJson(tokenizerConfig));
  await put('generation_config.json', encodeJson(gen));
  // config.json last: a folder with a config.json is complete.
  await put('config.json', encodeJson(hfConfig));
  const params = [...weights.entries()].filter(([n]) => !n.startsWith('vision.') && !isFrozen(n)).reduce((a, [, w]) => a + w.data.length, 0);
  return { files: written, onnxBytes: bytes.length, params, droppedVision: hasVision(config), architecture: config.text.architecture };
}

function tokenIdOf(tokenizerJson: Uint8Array, token: string): number | undefined {
  try {
    const tj = JSON.parse(new TextDecoder().decode(tokenizerJson)) as Json;
    const added = Array.isArray(tj.added_tokens) ? (tj.added_tokens as Json[]) : [];
    const hit = added.find((t) => t.content === token);
    if (hit && typeof hit.id === 'number') return hit.id;
    const vocab = isObj(tj.model) && isObj(tj.model.vocab) ? tj.model.vocab : null;
    const id = vocab?.[token];
    return typeof id === 'number' ? id : undefined;
  } catch {
    return undefined;
  }
}
