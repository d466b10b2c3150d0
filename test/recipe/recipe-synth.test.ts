// The recipe end to end on the synth curriculum, through the two commands the README names:
// `thinker sft --config synth-micro-noisy`, then `thinker grpo --config synth-micro-noisy --model
// <its checkpoint>` (in-process, on the test device). Real generator items (triage questions,
// level 1, options in their fixed order) from a noisy teacher, the recipe's full prompt, a
// tokenizer and a ~110k-parameter model trained from scratch.
//
// What this proves: SFT takes the held-out format rate from 0 to >= 90% and cuts the held-out loss
// by more than half; the checkpoint it writes is a complete model folder with its run state; GRPO
// starts from it on the same held-out items (its step-0 evaluation reproduces SFT's last one
// response for response), samples groups, updates, and keeps the format. What it does not prove:
// that GRPO raises held-out accuracy over the SFT checkpoint; at this budget it does not yet do so
// reliably (README, "What the recipe shows at small scale").
import { describe, it, expect, afterAll } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runSftCommand, type SftSummary } from '../../src/cli/commands/sft';
import { runGrpoCommand, type GrpoSummary } from '../../src/cli/commands/grpo';
import { generateSynthCases, traceConclusion } from '../../src/data/synth';
import { MetricsLog, readRunState } from '../../src/recipe/run-io';
import { SFT_PRESETS, sftConfigFrom } from '../../src/recipe/sft-config';
import { GRPO_PRESETS, grpoConfigFrom } from '../../src/recipe/grpo-config';
import { testGpu } from '../helpers/gpu';

const dir = mkdtempSync(path.join(tmpdir(), 'thinker-recipe-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type EvalRow = { type: 'eval'; step: number; format_rate: number; accuracy: number; samples: { index: number; response: string; format: boolean; correct: boolean }[] };
const evals = async (run: string) => (await MetricsLog.read(path.join(run, 'metrics.jsonl'))).filter((r) => r.type === 'eval') as unknown as EvalRow[];

describe('the recipe on synth', () => {
  it('the two presets describe one experiment: same items, same held-out set', async () => {
    const sft = sftConfigFrom('synth-micro-noisy');
    const grpo = grpoConfigFrom('synth-micro-noisy');
    expect(SFT_PRESETS['synth-micro-noisy'].describe).toMatch(/grpo --config synth-micro-noisy/);
    expect(GRPO_PRESETS['synth-micro-noisy'].describe).toMatch(/sft --config synth-micro-noisy/);
    expect(grpo.data.source).toBe('synth');
    expect(grpo.data.synth).toEqual(sft.data.synth);
    expect([grpo.eval.items, grpo.eval.maxNewTokens, grpo.prompt.newline]).toEqual([sft.eval.items, sft.eval.maxNewTokens, sft.prompt.newline]);
    // The noisy teacher: exactly half of the training traces conclude with a wrong letter, the
    // others are sloppy (straight to the conclusion), and every item keeps its gold label (the SFT
    // target's answer and the reward's). Options keep their order: Red is always A.
    const s = sft.data.synth;
    const cases = await generateSynthCases({ ...s.options, n: s.n, kind: 'text', level: 1, seed: s.seed, split: 'train' } as Parameters<typeof generateSynthCases>[0]);
    expect(cases.filter((c) => c.trace.mode === 'wrong').length).toBe(s.n / 2);
    expect(cases.filter((c) => c.trace.mode === 'sloppy').length).toBe(s.n / 2);
    for (const c of cases) expect(traceConclusion(c.item.reasoning) === c.item.answer_label).toBe(c.trace.mode !== 'wrong');
    for (const c of cases) expect(Object.values(c.item.options)).toEqual(['Red', 'Yellow', 'Green']);
    expect(new Set(cases.map((c) => c.template))).toEqual(new Set(['triage']));
  });

  it('SFT learns the answer format on held-out items; GRPO starts from its checkpoint on the same items and keeps it', async () => {
    const gpu = await testGpu();
    const lines: string[] = [];
    const log = (l: string) => lines.push(l);
    const sftOut = path.join(dir, 'sft');
    const s = await runSftCommand({ config: 'synth-micro-noisy', out: sftOut, quiet: true }, { gpu, handleSignals: false, log }) as SftSummary;

    expect(s.stopped).toBe('completed');
    expect([s.step, s.data.examples, s.data.items, s.data.evalItems]).toEqual([80, 400, 400, 32]);
    expect(s.params).toBeLessThan(120_000);
    expect(lines.some((l) => /synth text level 1: 400 train, 32 held-out/.test(l))).toBe(true);
    // ~91 prompt tokens (the recipe's instruction) + the answer's.
    expect(s.data.meanTokens).toBeGreaterThan(110);
    expect(s.initialEval!.step).toBe(0);
    expect(s.initialEval!.format_rate).toBeLessThanOrEqual(0.1);
    expect(s.finalEval!.step).toBe(80);
    expect(s.finalEval!.format_rate).toBeGreaterThanOrEqual(0.9);
    expect(s.finalEval!.eval_loss!).toBeLessThan(s.initialEval!.eval_loss! * 0.5);
    expect(s.lastLoss!).toBeLessThan(s.firstLoss! * 0.5);

    // The checkpoint: a complete Hugging Face folder with the tokenizer and the run state.
    const ck = path.join(sftOut, 'checkpoint-80');
    expect(path.resolve(s.checkpoint)).toBe(ck);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'trainer_state.json', 'optimizer.safetensors']) {
      expect(existsSync(path.join(ck, f)), f).toBe(true);
    }
    const state = await readRunState(ck, 'sft');
    expect([state.step, state.totalSteps, state.reason, state.position.index]).toEqual([80, 80, 'final', 240]);

    // GRPO from it. Its step-0 evaluation reloads the checkpoint and decodes the same held-out
    // items with the same prompt, greedily: response for response what SFT's last evaluation got.
    const grpoOut = path.join(dir, 'grpo');
    const g = await runGrpoCommand({ config: 'synth-micro-noisy', model: ck, out: grpoOut, quiet: true }, { gpu, handleSignals: false, log }) as GrpoSummary;
    expect(g.stopped).toBe(false);
    expect([g.step, g.items, g.evalItems, g.promptsTooLong]).toEqual([4, 400, 32, 0]);
    expect(g.initialEval).toEqual({ step: 0, format_rate: s.finalEval!.format_rate, accuracy: s.finalEval!.accuracy, reward_mean: s.finalEval!.reward_mean });
    const [sftLast, grpoFirst] = [(await evals(sftOut)).pop()!, (await evals(grpoOut))[0]];
    expect(grpoFirst.step).toBe(0);
    expect(grpoFirst.samples.map((x) => x.response)).toEqual(sftLast.samples.map((x) => x.response));

    // A few GRPO steps keep the learned format (the KL term holds the policy near its start).
    expect(g.finalEval!.step).toBe(4);
    expect(g.finalEval!.format_rate).toBeGreaterThanOrEqual(0.8);
    const steps = (await MetricsLog.read(path.join(grpoOut, 'metrics.jsonl'))).filter((r) => r.type === 'step');
    expect(steps.map((r) => r.step)).toEqual([1, 2, 3, 4]);
    for (const r of steps) {
      expect(r.updates).toBe(2);
      for (const k of ['reward_mean', 'accuracy', 'format_rate', 'kl', 'entropy', 'response_length']) expect(Number.isFinite(r[k] as number), k).toBe(true);
    }
    expect(existsSync(path.join(grpoOut, 'checkpoint-4', 'model.safetensors'))).toBe(true);
  }, 900_000);
});
