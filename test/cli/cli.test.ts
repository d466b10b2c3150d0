// The headless runner end to end, through `node bin/thinker.mjs` exactly as a user runs it.
import { describe, it, expect, beforeAll } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { rng } from '../helpers/gpu';

const root = path.resolve(__dirname, '../..');

function thinker(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [path.join(root, 'bin/thinker.mjs'), ...args], { cwd: root, maxBuffer: 1 << 26 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** A small corpus with learnable structure: templated clinical sentences. */
function corpus(seed: number, lines: number): string {
  const r = rng(seed);
  const organs = ['heart', 'lung', 'liver', 'kidney', 'spleen', 'brain'];
  const findings = ['a nodule', 'an effusion', 'a cyst', 'no abnormality', 'a mass', 'edema'];
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    const o = organs[r.int(organs.length)],
      f = findings[r.int(findings.length)];
    out.push(`The ${o} shows ${f}. Answer: the ${o} has ${f}.`);
  }
  return out.join('\n');
}

describe('thinker CLI', () => {
  let dir: string;
  const tinyConfig = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: 300,
    hidden_size: 48,
    intermediate_size: 96,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 128,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: true,
  };

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'thinker-cli-'));
    writeFileSync(path.join(dir, 'notes.txt'), corpus(1, 300));
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify(tinyConfig));
  });

  it('train drives the loss well below its start, writes metrics and a loadable checkpoint', async () => {
    const out = path.join(dir, 'model');
    const metrics = path.join(dir, 'metrics.jsonl');
    const r = await thinker([
      'train',
      '--data',
      path.join(dir, 'notes.txt'),
      '--config',
      path.join(dir, 'config.json'),
      '--steps',
      '30',
      '--batch',
      '4',
      '--seq',
      '32',
      '--lr',
      '1e-2',
      '--warmup',
      '3',
      '--seed',
      '1',
      '--out',
      out,
      '--metrics',
      metrics,
      '--json',
      '--quiet',
    ]);
    expect(r.stderr + r.code).toMatch(/0$/);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(summary.steps).toBe(30);
    // From ~ln(vocab) down to well under half of it on this templated text.
    expect(summary.initial_loss).toBeGreaterThan(4.5);
    expect(summary.final_loss).toBeLessThan(summary.initial_loss * 0.5);
    const rows = readFileSync(metrics, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows).toHaveLength(30);
    for (const k of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) expect(existsSync(path.join(out, k))).toBe(true);

    // The checkpoint decodes through the generate contract: --json prints an object whose ids are the N new tokens.
    const g = await thinker(['generate', '--model', out, '--prompt', 'The lung shows', '--max-new-tokens', '6', '--greedy', '--json']);
    expect(g.code, g.stderr).toBe(0);
    const res = JSON.parse(g.stdout);
    expect(res.ids).toHaveLength(6);
    expect(typeof res.text).toBe('string');
    const g2 = await thinker(['generate', '--model', out, '--prompt-ids', res.prompt_ids.join(','), '--max-new-tokens', '6', '--greedy', '--json']);
    expect(JSON.parse(g2.stdout).ids).toEqual(res.ids);
    // The f16 KV cache through the same contract: log-probs within f16's rounding of the f32 cache's.
    const g3 = await thinker([
      'generate',
      '--model',
      out,
      '--prompt-ids',
      res.prompt_ids.join(','),
      '--max-new-tokens',
      '6',
      '--greedy',
      '--json',
      '--kv-cache',
      'f16',
    ]);
    expect(g3.code, g3.stderr).toBe(0);
    const f16 = JSON.parse(g3.stdout);
    expect(f16.logprobs[0]).toBeCloseTo(res.logprobs[0], 2);
    const bad = await thinker(['generate', '--model', out, '--prompt-ids', '1', '--kv-cache', 'bf16']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--kv-cache.*expected f32 or f16/);
  });

  it('train --lora-rank adapts that model with its weights frozen, and writes the merged model and a PEFT adapter', async () => {
    const { createHash } = await import('node:crypto');
    const { readSafetensors } = await import('../../src/io/safetensors');
    const { readPeftAdapter } = await import('../../src/io/peft');
    const { nodeDirSource } = await import('../../src/io/workspace');
    const { mergeLora } = await import('../../src/model/lora');
    const { configFromHfJson } = await import('../../src/io/hf-config');
    const baseDir = path.join(dir, 'model');
    const hash = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
    const before = hash(path.join(baseDir, 'model.safetensors'));
    writeFileSync(path.join(dir, 'more.txt'), corpus(5, 200).replaceAll('shows', 'reveals'));
    const out = path.join(dir, 'lora');
    const args = ['train', '--data', path.join(dir, 'more.txt'), '--model', baseDir, '--lora-rank', '4', '--lora-targets', 'q_proj,v_proj,down_proj'];
    const r = await thinker([...args, '--steps', '20', '--batch', '4', '--seq', '32', '--lr', '1e-2', '--warmup', '2', '--out', out, '--json', '--quiet']);
    expect(r.stderr + r.code).toMatch(/0$/);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(summary.lora).toEqual({ rank: 4, alpha: 8, targets: ['q_proj', 'v_proj', 'down_proj'] });
    // 2 layers x (q: 4x48 + 48x4, v: 4x48 + 24x4, down: 4x96 + 48x4) adapter weights train, nothing else.
    expect(summary.trainable_params).toBe(2 * (4 * 48 + 48 * 4 + (4 * 48 + 24 * 4) + (4 * 96 + 48 * 4)));
    expect(summary.final_loss).toBeLessThan(summary.initial_loss);
    expect(hash(path.join(baseDir, 'model.safetensors'))).toBe(before);

    // OUT: a plain model whose weights are the base's with the adapter folded in, and the adapter as PEFT writes it.
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'adapter/adapter_config.json', 'adapter/adapter_model.safetensors']) {
      expect(existsSync(path.join(out, f)), f).toBe(true);
    }
    const cfg = configFromHfJson(JSON.parse(readFileSync(path.join(baseDir, 'config.json'), 'utf8')), 'config.json');
    const { spec, adapters } = await readPeftAdapter(nodeDirSource(path.join(out, 'adapter')), cfg);
    expect(JSON.parse(readFileSync(path.join(out, 'adapter/adapter_config.json'), 'utf8'))).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8 });
    const base = readSafetensors(readFileSync(path.join(baseDir, 'model.safetensors')), 'base');
    const merged = readSafetensors(readFileSync(path.join(out, 'model.safetensors')), 'merged');
    const want = mergeLora(cfg, spec, base, adapters);
    let worst = 0;
    for (const [name, t] of want) for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(merged.get(name)!.data[i] - t.data[i]));
    expect(worst).toBe(0);
    expect(Array.from(adapters.get('model.layers.1.mlp.down_proj.lora_B.weight')!.data).some((x) => x !== 0)).toBe(true);
    const g = await thinker(['generate', '--model', out, '--prompt', 'The lung reveals', '--max-new-tokens', '4', '--greedy', '--json']);
    expect(g.code, g.stderr).toBe(0);

    const bad = await thinker(['train', '--data', path.join(dir, 'more.txt'), '--lora-rank', '4']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--lora-rank.*pass --model/);
    const badTarget = await thinker([...args.slice(0, -1), 'q_proj,wq', '--steps', '1']);
    expect(badTarget.code).toBe(1);
    expect(badTarget.stderr).toMatch(/unknown target "wq"/);
  });

  it('bad input gives one clear error naming the file or option', async () => {
    const bad = path.join(dir, 'bad');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(bad, { recursive: true });
    writeFileSync(path.join(bad, 'config.json'), JSON.stringify({ ...tinyConfig, model_type: 'mamba', architectures: ['MambaForCausalLM'] }));
    let r = await thinker(['generate', '--model', bad, '--prompt-ids', '1,2', '--max-new-tokens', '2', '--greedy']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/config\.json/);
    expect(r.stderr).toMatch(/mamba|Mamba/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace

    const out = path.join(dir, 'model');
    r = await thinker(['generate', '--model', out, '--prompt-ids', Array(130).fill(1).join(','), '--max-new-tokens', '4', '--greedy']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/context of 128 tokens/);

    r = await thinker(['generate', '--model', out, '--prompt-ids', '1,99999', '--max-new-tokens', '4', '--greedy']);
    expect(r.stderr).toMatch(/99999.*outside the vocabulary/);

    // A truncated safetensors file
    const trunc = path.join(dir, 'trunc');
    mkdirSync(trunc, { recursive: true });
    writeFileSync(path.join(trunc, 'config.json'), JSON.stringify(tinyConfig));
    const st = readFileSync(path.join(out, 'model.safetensors'));
    writeFileSync(path.join(trunc, 'model.safetensors'), st.subarray(0, st.length - 100));
    r = await thinker(['generate', '--model', trunc, '--prompt-ids', '1', '--max-new-tokens', '1', '--greedy']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/model\.safetensors/);

    // --prompt without a tokenizer
    r = await thinker(['generate', '--model', trunc, '--prompt', 'hello', '--max-new-tokens', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/tokenizer\.json/);

    r = await thinker(['train', '--data', path.join(dir, 'missing.txt')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/missing\.txt.*not found/);
  });
});
