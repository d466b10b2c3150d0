// SFT with LoRA (`model.lora` in the config): adapters on a frozen start model. The run writes
// checkpoints that are plain models (the merged weights) with the adapters beside them in PEFT's
// format; a run stopped and resumed (the base from model.init, the adapters and their AdamW
// moments from the checkpoint) ends with exactly the weights of one that ran straight through.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Gpu } from '../../src/engine/gpu';
import { InputError } from '../../src/engine/errors';
import { readSafetensors } from '../../src/io/safetensors';
import { readPeftAdapter } from '../../src/io/peft';
import { nodeDirSource } from '../../src/io/workspace';
import { configFromHfJson } from '../../src/io/hf-config';
import { mergeLora } from '../../src/model/lora';
import { runSftCommand, type SftCliOptions, type SftSummary } from '../../src/cli/commands/sft';
import { MetricsLog } from '../../src/recipe/run-io';
import { testGpu } from '../helpers/gpu';
import { handMade } from './compare-items';

const MICRO = ['model.hiddenSize=32', 'model.numHeads=2', 'model.numKvHeads=1', 'model.intermediateSize=64', 'model.context=128', 'maxLength=128'];
const RUN = ['batchSize=2', 'data.synth.n=40', 'eval.items=0', 'checkpoint.every=0', 'lr=1e-2'];

const dir = mkdtempSync(path.join(tmpdir(), 'thinker-sft-lora-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const weights = (d: string) => readSafetensors(new Uint8Array(readFileSync(path.join(d, 'model.safetensors'))), d);
const hash = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
function maxDiff(a: Map<string, { data: Float32Array }>, b: Map<string, { data: Float32Array }>): number {
  let d = 0;
  for (const [name, t] of a) {
    const u = b.get(name)!;
    for (let i = 0; i < t.data.length; i++) d = Math.max(d, Math.abs(t.data[i] - u.data[i]));
  }
  return d;
}

describe('SFT with LoRA', () => {
  const base = path.join(dir, 'base', 'checkpoint-4');
  const run = (o: SftCliOptions, deps: { gpu: Gpu; signal?: AbortSignal; log?: (l: string) => void }) =>
    runSftCommand(o, { generateSynth: handMade, handleSignals: false, log: () => {}, ...deps }) as Promise<SftSummary>;
  const lora = () => [
    ...RUN,
    'maxLength=128',
    `model.init=${base}`,
    'model.lora.rank=4',
    'model.lora.alpha=8',
    'model.lora.targets=q_proj,v_proj,up_proj,down_proj',
  ];

  beforeAll(async () => {
    await run({ config: 'synth-micro', out: path.join(dir, 'base'), steps: '4', seed: '3', set: [...MICRO, ...RUN] }, { gpu: await testGpu() });
  }, 600_000);

  it('trains adapters on a frozen start model; stopped and resumed, it ends where a straight run does', async () => {
    const gpu = await testGpu();
    const before = hash(path.join(base, 'model.safetensors'));
    const lines: string[] = [];
    const straight = await run(
      { config: 'synth-micro', out: path.join(dir, 'straight'), steps: '6', seed: '5', set: lora() },
      { gpu, log: (l) => lines.push(l) },
    );
    expect(straight.stopped).toBe('completed');
    expect(lines.some((l) => /LoRA rank 4 \(alpha 8\) on q_proj, v_proj, up_proj, down_proj: [\d,]+ trainable weights, the start model frozen/.test(l))).toBe(
      true,
    );
    expect(straight.lastLoss!).toBeLessThan(straight.firstLoss!);
    expect(hash(path.join(base, 'model.safetensors'))).toBe(before);

    // The checkpoint: the merged model, and the adapters that make it from the base.
    const ck = path.join(dir, 'straight', 'checkpoint-6');
    for (const f of ['model.safetensors', 'tokenizer.json', 'adapter/adapter_config.json', 'adapter/adapter_model.safetensors', 'optimizer.safetensors']) {
      expect(existsSync(path.join(ck, f)), f).toBe(true);
    }
    const cfg = configFromHfJson(JSON.parse(readFileSync(path.join(base, 'config.json'), 'utf8')), 'config.json');
    const { spec, adapters } = await readPeftAdapter(nodeDirSource(path.join(ck, 'adapter')), cfg);
    expect(spec).toEqual({ rank: 4, alpha: 8, targets: ['q_proj', 'v_proj', 'up_proj', 'down_proj'] });
    const merged = weights(ck);
    expect(maxDiff(merged, mergeLora(cfg, spec, weights(base), adapters))).toBe(0);
    expect(maxDiff(merged, weights(base))).toBeGreaterThan(1e-4);
    // Only the adapted projections moved.
    const baseW = weights(base);
    expect(merged.get('model.layers.0.self_attn.k_proj.weight')!.data).toEqual(baseW.get('model.layers.0.self_attn.k_proj.weight')!.data);
    expect(merged.get('model.embed_tokens.weight')!.data).toEqual(baseW.get('model.embed_tokens.weight')!.data);

    const stop = new AbortController();
    const stopped = path.join(dir, 'stopped');
    const first = await run(
      { config: 'synth-micro', out: stopped, steps: '6', seed: '5', set: lora() },
      { gpu, signal: stop.signal, log: (l) => l.startsWith('step 3/') && stop.abort() },
    );
    expect([first.stopped, first.step]).toEqual(['interrupted', 3]);
    const resumed = await run({ resume: stopped }, { gpu });
    expect([resumed.stopped, resumed.step, resumed.optimizerRestored]).toEqual(['completed', 6, true]);
    const rows = (await MetricsLog.read(path.join(stopped, 'metrics.jsonl'))).filter((r) => r.type === 'step');
    expect(rows.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(maxDiff(weights(path.join(stopped, 'checkpoint-6')), merged)).toBeLessThan(1e-5);
  }, 900_000);

  it('refuses LoRA without a start model, and unknown targets, before any GPU work', async () => {
    const noGpu = new Proxy(
      {},
      {
        get: () => {
          throw new Error('the GPU was touched');
        },
      },
    ) as Gpu;
    for (const [set, re] of [
      [[...RUN, 'model.lora.rank=4'], /model\.lora adapts a start model: set model\.init/],
      [[...RUN, `model.init=${base}`, 'model.lora.rank=4', 'model.lora.targets=q_proj,qkv'], /"q_proj,qkv": use "all" or a comma list/],
    ] as const) {
      let err: unknown;
      try {
        await run({ config: 'synth-micro', out: path.join(dir, 'bad'), steps: '2', set: [...set] }, { gpu: noGpu });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toMatch(re);
    }
  });
});
