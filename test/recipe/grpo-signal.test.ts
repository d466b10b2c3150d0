// GRPO's learning-signal warnings (the Train page's and the CLI's), from metric rows.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { answerShares, lastEvalAt, liveSignalWarning, startModelWarning, COLLAPSE_WINDOW, EQUAL_STEPS } from '../../src/recipe/grpo-signal';
import type { SignalRow as MetricRow } from '../../src/recipe/grpo-signal';

const step = (n: number, o: Record<string, number>): MetricRow => ({ type: 'step', step: n, format_rate: 1, groups_equal: 0, reward_mean: 0.5, ...o });
const ev = (n: number, format: number, seconds = 4): MetricRow => ({ type: 'eval', step: n, format_rate: format, accuracy: 0, seconds });

describe('GRPO learning-signal warnings', () => {
  it("before Start: the start checkpoint's own last evaluation decides", () => {
    const sft = [ev(0, 0), ev(50, 0.02), ev(100, 0.97)];
    expect(lastEvalAt(sft, 60)?.step).toBe(50);
    expect(startModelWarning(lastEvalAt(sft, 60))?.title).toMatch(/format on 2% of its held-out questions \(step 50\)/);
    expect(startModelWarning(lastEvalAt(sft, 100))).toBeNull();
    expect(startModelWarning(lastEvalAt(sft))).toBeNull();
    expect(startModelWarning(null)).toBeNull();
  });

  it('during a run: only after EQUAL_STEPS steps in a row without format or without any group spread', () => {
    const P = 4;
    const noFormat = Array.from({ length: EQUAL_STEPS }, (_, i) => step(i + 1, { format_rate: 0, reward_mean: 0, groups_equal: P }));
    expect(liveSignalWarning(noFormat.slice(1), P)).toBeNull();
    expect(liveSignalWarning(noFormat, P)?.title).toMatch(/no sampled answer had the format/);
    const allWrong = Array.from({ length: EQUAL_STEPS }, (_, i) => step(i + 1, { groups_equal: P, reward_mean: 0 }));
    expect(liveSignalWarning(allWrong, P)?.advice).toMatch(/train SFT longer/);
    const allRight = Array.from({ length: EQUAL_STEPS }, (_, i) => step(i + 1, { groups_equal: P, reward_mean: 1 }));
    expect(liveSignalWarning(allRight, P)?.advice).toMatch(/too easy/);
    // One group with a spread in the window is a signal.
    expect(liveSignalWarning([...allWrong.slice(0, -1), step(EQUAL_STEPS, { groups_equal: P - 1, reward_mean: 0.1 })], P)).toBeNull();
    // Evaluation rows in between do not count as steps.
    expect(liveSignalWarning([allWrong[0], ev(1, 0.9), allWrong[1], allWrong[2]], P)).not.toBeNull();
  });

  it("a step's answer shares compare option texts across items, counting only answers the grader can read", () => {
    const yn = { A: 'Yes', B: 'No' };
    const tri = { A: 'Red', B: 'Yellow', C: 'Green' };
    const ans = (x: string) => `<think> ... </think>\n<answer> ${x} </answer>`;
    const shares = answerShares([
      // "A" is Yes here and Red below: by text, three answers say yes.
      { options: yn, answerLabel: 'A', responses: [ans('A'), ans('A'), ans('Yes'), 'no answer tags at all'] },
      { options: yn, answerLabel: 'B', responses: [ans('B'), ans('maybe')] },
      { options: tri, answerLabel: 'B', responses: [ans('A'), ans('C')] },
      { options: tri, answerLabel: 'B', answer: 'Yellow', responses: [] },
    ]);
    // Readable: yes x3, no, red, green = 6; golds: yes, no, yellow, yellow.
    expect(shares).toEqual({ answer_top: 'yes', answer_top_share: 3 / 6, gold_top_share: 2 / 4 });
    expect(answerShares([{ options: yn, answerLabel: 'A', responses: ['nothing'] }])).toEqual({ answer_top: '', answer_top_share: 0, gold_top_share: 1 });
  });

  it('answer collapse, on the measured steps of 18 runs: fires (at step 4 or 5) on the three that pushed the scans to one answer and on no other', () => {
    const fixture = JSON.parse(readFileSync(new URL('../fixtures/grpo-answer-shares.json', import.meta.url), 'utf8')) as {
      runs: { run: string; steps: { step: number; answer_top: string; answer_top_share: number; gold_top_share: number }[] }[];
    };
    expect(fixture.runs).toHaveLength(18);
    const firedAt = new Map<string, { step: number; title: string }>();
    for (const r of fixture.runs) {
      const rows: MetricRow[] = [];
      for (const st of r.steps) {
        // Every group had a spread and every answer the format: only the collapse rule can fire.
        rows.push({ ...step(st.step, {}), ...st });
        const w = liveSignalWarning(rows, 8);
        if (w) {
          expect(rows.length).toBeGreaterThanOrEqual(COLLAPSE_WINDOW);
          firedAt.set(r.run, { step: st.step, title: w.title });
          break;
        }
      }
    }
    // RL on scans alone at lr 5e-4 with 4 prompts a step: the runs whose held-out scans fell.
    expect([...firedAt.keys()].sort()).toEqual(
      [
        'seed 1, bench-recipe arm RL (image), lr 0.0005, 4 prompts a step',
        'seed 3, 32 scans (half in the blind spot), lr 5e-4, 4 prompts a step',
        'seed 3, bench-recipe arm RL (image), lr 0.0005, 4 prompts a step',
      ].sort(),
    );
    for (const [, f] of firedAt) {
      expect([4, 5]).toContain(f.step);
      expect(f.title).toMatch(/Answer collapse: in [23] of the last 3 steps at least 85% of the sampled answers named one option \("(yes|no)"\)/);
    }
  });
});
