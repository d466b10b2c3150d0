// Real-checkpoint path: a random-weight Hugging Face LlamaForCausalLM folder, written here by an
// independent minimal writer (BF16 and F16 shards with an index, as transformers saves large
// models), decoded greedily by `thinker generate`, must give the float64 reference's token ids.
import { describe, it, expect, beforeAll } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { rng } from '../helpers/gpu';
import * as ref from '../reference/llama-f64';
import { configFromHfJson } from '../../src/io/hf-config';
import { paramSpecs } from '../../src/model/config';

const root = path.resolve(__dirname, '../..');

/** config.json as transformers writes it for a LlamaForCausalLM (GQA, untied head, rope_theta 500000). */
const configJson = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  vocab_size: 61,
  hidden_size: 40,
  intermediate_size: 72,
  num_hidden_layers: 2,
  num_attention_heads: 5,
  num_key_value_heads: 1,
  head_dim: 8,
  hidden_act: 'silu',
  max_position_embeddings: 128,
  rms_norm_eps: 1e-5,
  rope_theta: 500000,
  rope_scaling: null,
  tie_word_embeddings: false,
  attention_bias: false,
  mlp_bias: false,
  bos_token_id: 1,
  eos_token_id: 2,
  torch_dtype: 'bfloat16',
};

/** Round-to-nearest-even to bfloat16 / IEEE half, returning the raw 16-bit patterns and the rounded values. */
function toBf16(x: number): [number, number] {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0];
  const bits = ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
  const back = new Float32Array(new Uint32Array([bits << 16]).buffer)[0];
  return [bits, back];
}
function toF16(x: number): [number, number] {
  // Small-magnitude weights only (|x| < 2): normal halves, round to nearest even on the mantissa.
  if (x === 0) return [0, 0];
  const sign = x < 0 ? 0x8000 : 0;
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  if (e < -14) e = -14; // subnormal range
  const scale = 2 ** (e - 10);
  let m = Math.round(a / scale);
  if (a / scale - Math.floor(a / scale) === 0.5 && Math.floor(a / scale) % 2 === 0) m = Math.floor(a / scale);
  if (m === 2048) {
    m = 1024;
    e++;
  }
  const value = m * 2 ** (e - 10) * (sign ? -1 : 1);
  const bits = m >= 1024 ? sign | ((e + 15) << 10) | (m - 1024) : sign | m;
  return [bits, value];
}

/** A safetensors file of 16-bit tensors, written from the format's definition. */
function writeSt16(tensors: { name: string; shape: number[]; bits: Uint16Array }[], dtype: 'BF16' | 'F16'): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let off = 0;
  for (const t of tensors) {
    header[t.name] = { dtype, shape: t.shape, data_offsets: [off, off + t.bits.byteLength] };
    off += t.bits.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let p = 8 + json.length;
  for (const t of tensors) {
    out.set(new Uint8Array(t.bits.buffer), p);
    p += t.bits.byteLength;
  }
  return out;
}

function thinker(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(root, 'bin/thinker.mjs'), ...args], { cwd: root }, (err, stdout, stderr) =>
      resolve({ code: err ? 1 : 0, stdout, stderr }),
    );
  });
}

describe('Hugging Face checkpoint folders', () => {
  const cfg = configFromHfJson(configJson, 'test config');
  const dir = mkdtempSync(path.join(tmpdir(), 'thinker-hf-'));
  const rounded = new Map<string, Float32Array>();

  beforeAll(() => {
    const r = rng(42);
    const specs = paramSpecs(cfg);
    const shards: { file: string; dtype: 'BF16' | 'F16'; tensors: { name: string; shape: number[]; bits: Uint16Array }[] }[] = [
      { file: 'model-00001-of-00002.safetensors', dtype: 'BF16', tensors: [] },
      { file: 'model-00002-of-00002.safetensors', dtype: 'F16', tensors: [] },
    ];
    const weightMap: Record<string, string> = {};
    specs.forEach((s, i) => {
      const n = s.shape.reduce((a, b) => a * b, 1);
      const shard = shards[i < specs.length / 2 ? 0 : 1];
      const bits = new Uint16Array(n);
      const vals = new Float32Array(n);
      for (let j = 0; j < n; j++) {
        const x = s.name.endsWith('norm.weight') ? 1 + 0.1 * r.uniform() : 0.35 * r.normal();
        const [b, v] = shard.dtype === 'BF16' ? toBf16(x) : toF16(x);
        bits[j] = b;
        vals[j] = v;
      }
      shard.tensors.push({ name: s.name, shape: s.shape, bits });
      rounded.set(s.name, vals);
      weightMap[s.name] = shard.file;
    });
    // An extra buffer that old checkpoints carry and loaders must ignore.
    shards[0].tensors.push({ name: 'model.layers.0.self_attn.rotary_emb.inv_freq', shape: [4], bits: new Uint16Array(4) });
    for (const s of shards) writeFileSync(path.join(dir, s.file), writeSt16(s.tensors, s.dtype));
    writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify(configJson));
  });

  it('a sharded BF16/F16 LlamaForCausalLM folder decodes greedily to the float64 reference ids', async () => {
    const prompt = [1, 17, 33, 5, 60, 8];
    const n = 12;
    const want = ref.greedyDecode(cfg, rounded, prompt, n);
    const r = await thinker(['generate', '--model', dir, '--prompt-ids', prompt.join(','), '--max-new-tokens', String(n), '--greedy', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).ids).toEqual(want);
  });

  it('a folder whose shard is missing or whose config is broken gives an error naming the file', async () => {
    const bad = path.join(dir, 'broken');
    mkdirSync(bad, { recursive: true });
    writeFileSync(path.join(bad, 'config.json'), JSON.stringify(configJson));
    writeFileSync(path.join(bad, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'model.norm.weight': 'gone.safetensors' } }));
    let r = await thinker(['generate', '--model', bad, '--prompt-ids', '1', '--max-new-tokens', '1', '--greedy']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/gone\.safetensors/);
    writeFileSync(path.join(bad, 'config.json'), JSON.stringify({ ...configJson, num_key_value_heads: 2 }));
    r = await thinker(['generate', '--model', bad, '--prompt-ids', '1', '--max-new-tokens', '1', '--greedy']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/config\.json/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
