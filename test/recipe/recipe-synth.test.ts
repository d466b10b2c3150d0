// The recipe end to end on the synth curriculum, through the two commands the README names:
// `thinker sft --config synth-micro-noisy`, then `thinker grpo --config synth-micro-noisy --model
// <its checkpoint>` (in-process, on the test device). Real generator items (triage on a
// nursing note's words, level 1, options in their fixed order) from a teacher with a blind spot (it
// misreads 60% of the yellow patients and reasons on to a wrong category), the recipe's full
// prompt, a tokenizer and a ~110k-parameter model trained from scratch with the default (fan-in)
// init; SFT trains on the teacher's conclusions.
//
// What this proves: SFT takes the held-out format rate from 0 to >= 90% and cuts the held-out loss
// by more than half; the checkpoint it writes is a complete model folder with its run state; GRPO
// starts from it on the same held-out items (its step-0 evaluation reproduces SFT's last one
// response for response), samples groups, updates with the verifiable reward on 16 training
// prompts, keeps the format and raises held-out accuracy over the SFT checkpoint's by at least 15
// points, by answering the yellow patients SFT got wrong (64 held-out items; 76.6% -> 100% by step
// 4 on SwiftShader with these seeds, README "What the recipe shows at small scale").
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

type EvalRow = {
  type: 'eval';
  step: number;
  format_rate: number;
  accuracy: number;
  samples: { index: number; response: string; format: boolean; correct: boolean }[];
};
const evals = async (run: string) => (await MetricsLog.read(path.join(run, 'metrics.jsonl'))).filter((r) => r.type === 'eval') as unknown as EvalRow[];

describe('the recipe on synth', () => {
  it('the two presets describe one experiment: same items, same held-out set', async () => {
    const sft = sftConfigFrom('synth-micro-noisy');
    const grpo = grpoConfigFrom('synth-micro-noisy');
    expect(SFT_PRESETS['synth-micro-noisy'].describe).toMatch(/grpo --config synth-micro-noisy/);
    expect(GRPO_PRESETS['synth-micro-noisy'].describe).toMatch(/sft --config synth-micro-noisy/);
    expect(grpo.data.source).toBe('synth');
    // GRPO's prompts: the first 16 of SFT's items (an item depends on its index, not on n).
    expect(grpo.data.synth).toEqual({ ...sft.data.synth, n: 16 });
    expect([grpo.eval.items, grpo.eval.maxNewTokens, grpo.prompt.newline]).toEqual([sft.eval.items, sft.eval.maxNewTokens, sft.prompt.newline]);
    // The blind spot: of the training items whose answer is Yellow, 60% (rounded) get a trace
    // that concludes with another letter; every other trace is clean and right. Every item keeps
    // its gold label (the reward's); SFT's target is the trace's conclusion. Options keep their
    // order: Red is always A.
    expect(sft.data.answer).toBe('trace');
    const s = sft.data.synth;
    const cases = await generateSynthCases({ ...s.options, n: s.n, kind: 'text', level: 1, seed: s.seed, split: 'train' } as Parameters<
      typeof generateSynthCases
    >[0]);
    const yellow = cases.filter((c) => c.item.answer === 'Yellow');
    expect(yellow.length).toBeGreaterThan(s.n / 10);
    expect(cases.filter((c) => c.trace.mode === 'wrong').length).toBe(Math.round(0.6 * yellow.length));
    expect(cases.filter((c) => c.trace.mode === 'sloppy').length).toBe(0);
    for (const c of cases) expect(c.trace.mode === 'wrong').toBe(c.item.answer === 'Yellow' && traceConclusion(c.item.reasoning) !== c.item.answer_label);
    for (const c of cases) expect(Object.values(c.item.options)).toEqual(['Red', 'Yellow', 'Green']);
    expect(new Set(cases.map((c) => c.template))).toEqual(new Set(['triage_signs']));
    const g = grpo.data.synth;
    const grpoItems = await generateSynthCases({ ...g.options, n: g.n, kind: 'text', level: 1, seed: g.seed, split: 'train' } as Parameters<
      typeof generateSynthCases
    >[0]);
    expect(grpoItems.map((c) => [c.item.question, c.item.answer])).toEqual(cases.slice(0, 16).map((c) => [c.item.question, c.item.answer]));
  });

  it('SFT learns the answer format on held-out items; GRPO from its checkpoint keeps it and raises held-out accuracy', async () => {
    const gpu = await testGpu();
    const lines: string[] = [];
    const log = (l: string) => lines.push(l);
    const sftOut = path.join(dir, 'sft');
    const s = (await runSftCommand({ config: 'synth-micro-noisy', out: sftOut, quiet: true }, { gpu, handleSignals: false, log })) as SftSummary;

    expect(s.stopped).toBe('completed');
    expect([s.step, s.data.examples, s.data.items, s.data.evalItems]).toEqual([120, 2000, 2000, 64]);
    expect(s.params).toBeLessThan(130_000);
    expect(lines.some((l) => /synth text level 1: 2000 train, 64 held-out/.test(l))).toBe(true);
    // ~91 prompt tokens (the recipe's instruction) + the answer's.
    expect(s.data.meanTokens).toBeGreaterThan(110);
    expect(s.initialEval!.step).toBe(0);
    expect(s.initialEval!.format_rate).toBeLessThanOrEqual(0.1);
    expect(s.finalEval!.step).toBe(120);
    expect(s.finalEval!.format_rate).toBeGreaterThanOrEqual(0.9);
    expect(s.finalEval!.eval_loss!).toBeLessThan(s.initialEval!.eval_loss! * 0.5);
    expect(s.lastLoss!).toBeLessThan(s.firstLoss! * 0.5);

    // The checkpoint: a complete Hugging Face folder with the tokenizer and the run state.
    const ck = path.join(sftOut, 'checkpoint-120');
    expect(path.resolve(s.checkpoint)).toBe(ck);
    for (const f of [
      'config.json',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
      'generation_config.json',
      'trainer_state.json',
      'optimizer.safetensors',
    ]) {
      expect(existsSync(path.join(ck, f)), f).toBe(true);
    }
    const state = await readRunState(ck, 'sft');
    expect([state.step, state.totalSteps, state.reason, state.position.index]).toEqual([120, 120, 'final', 960]);

    // GRPO from it. Its step-0 evaluation reloads the checkpoint and decodes the same held-out
    // items with the same prompt, greedily: response for response what SFT's last evaluation got.
    const grpoOut = path.join(dir, 'grpo');
    const g = (await runGrpoCommand({ config: 'synth-micro-noisy', model: ck, out: grpoOut, quiet: true }, { gpu, handleSignals: false, log })) as GrpoSummary;
    expect(g.stopped).toBe(false);
    expect([g.step, g.items, g.evalItems, g.promptsTooLong]).toEqual([8, 16, 64, 0]);
    expect(g.initialEval).toEqual({ step: 0, format_rate: s.finalEval!.format_rate, accuracy: s.finalEval!.accuracy, reward_mean: s.finalEval!.reward_mean });
    const [sftLast, grpoFirst] = [(await evals(sftOut)).pop()!, (await evals(grpoOut))[0]];
    expect(grpoFirst.step).toBe(0);
    expect(grpoFirst.samples.map((x) => x.response)).toEqual(sftLast.samples.map((x) => x.response));

    // GRPO keeps the learned format (the KL term holds the policy near its start) and the reward
    // pulls held-out accuracy up, past what SFT on the teacher's conclusions reached.
    expect(g.finalEval!.step).toBe(8);
    expect(g.finalEval!.format_rate).toBeGreaterThanOrEqual(0.9);
    expect(g.finalEval!.accuracy).toBeGreaterThanOrEqual(g.initialEval!.accuracy + 0.15);
    const grpoEvals = await evals(grpoOut);
    expect(grpoEvals.map((r) => r.step)).toEqual([0, 4, 8]);
    // Where the gain comes from: the yellow patients, whom SFT had copied the teacher's misreading of.
    const yellowRight = (e: EvalRow) => e.samples.filter((x) => x.correct && /^<think> (Heart rate|Temperature) is high: yellow sign/.test(x.response)).length;
    expect(yellowRight(grpoEvals[2])).toBeGreaterThanOrEqual(yellowRight(grpoEvals[0]) + 6);
    const steps = (await MetricsLog.read(path.join(grpoOut, 'metrics.jsonl'))).filter((r) => r.type === 'step');
    expect(steps.map((r) => r.step)).toEqual(Array.from({ length: 8 }, (_, i) => i + 1));
    for (const r of steps) {
      expect(r.updates).toBe(2);
      for (const k of ['reward_mean', 'accuracy', 'format_rate', 'kl', 'entropy', 'response_length']) expect(Number.isFinite(r[k] as number), k).toBe(true);
    }
    expect(existsSync(path.join(grpoOut, 'checkpoint-8', 'model.safetensors'))).toBe(true);
  }, 1_800_000);
});
