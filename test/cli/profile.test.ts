// `thinker sft --profile` / `thinker grpo --profile`: GPU time per kernel over the whole run, from
// timestamp queries (KernelProfiler). What is checked is what it counts, not how fast anything is:
// every kernel family of a training step is there, one log-prob backward per optimizer step (one
// micro-batch each), AdamW a whole number of dispatches per step, and the device is handed back
// without a profiler. An adapter without timestamp queries gets an error naming the flag.
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runSftCommand, type SftSummary } from '../../src/cli/commands/sft';
import { testGpu } from '../helpers/gpu';
import { handMade, MICRO_MODEL } from '../recipe/compare-items';

const RUN = [...MICRO_MODEL, 'batchSize=4', 'data.synth.n=12', 'data.synth.evalN=4', 'eval.items=4', 'eval.maxNewTokens=8', 'epochs=1', 'checkpoint.every=0'];

describe('--profile', () => {
  it('reports GPU time per kernel over an SFT run: every stage of a step, counted', async () => {
    const gpu = await testGpu();
    const dir = mkdtempSync(path.join(tmpdir(), 'thinker-profile-'));
    const deps = { gpu, handleSignals: false, log: () => undefined, generateSynth: handMade };
    const s = (await runSftCommand({ config: 'synth-micro', set: RUN, out: path.join(dir, 'run'), quiet: true, profile: true }, deps)) as SftSummary;
    expect(gpu.profiler).toBeNull();
    expect(s.step).toBe(3);
    const k = new Map(s.kernels!.map((r) => [r.label, r]));
    const calls = (re: RegExp) => [...k.values()].filter((r) => re.test(r.label)).reduce((n, r) => n + r.calls, 0);
    for (const family of [/^matmul/, /^attn_fwd/, /^attn_bwd_dkdv/, /^attn_bwd_dq/, /^rmsnorm/, /^embedding/, /^sample/])
      expect(calls(family), String(family)).toBeGreaterThan(0);
    expect(calls(/^logprob\.bwd/)).toBe(s.step);
    expect(calls(/^adamw/) % s.step).toBe(0);
    expect(calls(/^adamw/)).toBeGreaterThan(0);
    for (const r of s.kernels!) expect(r.ms >= 0 && Number.isFinite(r.ms), r.label).toBe(true);
    // Largest first, as printed.
    expect(s.kernels!.map((r) => r.ms)).toEqual([...s.kernels!.map((r) => r.ms)].sort((a, b) => b - a));

    const plain = (await runSftCommand({ config: 'synth-micro', set: RUN, out: path.join(dir, 'plain'), quiet: true }, deps)) as SftSummary;
    expect(plain.kernels).toBeUndefined();
  }, 300_000);

  it('on an adapter without timestamp queries, says so and names the flag', async () => {
    const gpu = await testGpu();
    const dir = mkdtempSync(path.join(tmpdir(), 'thinker-profile-'));
    const noTimestamps = Object.create(gpu, { hasTimestamps: { get: () => false } });
    await expect(
      runSftCommand(
        { config: 'synth-micro', set: RUN, out: path.join(dir, 'run'), quiet: true, profile: true },
        {
          gpu: noTimestamps,
          handleSignals: false,
          log: () => undefined,
          generateSynth: handMade,
        },
      ),
    ).rejects.toThrow(/--profile.*no timestamp-query feature/);
  });
});
