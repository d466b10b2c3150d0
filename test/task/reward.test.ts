import { describe, expect, it } from 'vitest';
import { checkFormat, computeReward, extractRewardAnswer, rewardAccuracy } from '../../src/task/reward';
import { gradeAnswer } from '../../src/task/grader';

const OPTS = { A: 'Cap Stage.', B: 'Bell Stage.', C: 'Bud Stage.', D: 'Initiation.' };

describe('training reward (recipe §5)', () => {
  // Every row of the recipe's table, gold A = "Cap Stage.".
  const table: [string, 0 | 1][] = [
    ['<think>x\ny</think>\n<answer> A </answer>', 1],
    ['<think>x</think><answer>A. Cap Stage.</answer>', 1],
    ['<think>x</think><answer>cap stage.</answer>', 1],
    ['<think>x</think><answer>\nA\n</answer>', 0],
    ['<think>x</think><answer>(A)</answer>', 0],
    [' <think>x</think><answer>A</answer>', 0],
    ['<think>x</think><answer>A</answer>\n', 0],
  ];
  for (const [response, want] of table) {
    it(`table row ${JSON.stringify(response)} -> ${want}`, () => {
      expect(computeReward(response, OPTS, 'A', 'Cap Stage.')).toBe(want);
    });
  }

  it('format is a gate: a right answer without the shape scores 0', () => {
    expect(computeReward('<answer>A</answer>', OPTS, 'A', OPTS.A)).toBe(0);
    expect(computeReward('<answer>A</answer><think>x</think>', OPTS, 'A', OPTS.A)).toBe(0);
    expect(computeReward('<think>x</think>so <answer>A</answer>', OPTS, 'A', OPTS.A)).toBe(0);
    expect(computeReward('<think>x</think><answer>A</answer> done', OPTS, 'A', OPTS.A)).toBe(0);
  });

  it('checkFormat: dot matches newlines, whitespace allowed only between the blocks', () => {
    expect(checkFormat('<think>\na\n\nb\n</think>\n \t\n<answer>\nA\n</answer>')).toBe(true);
    expect(checkFormat('<think></think><answer></answer>')).toBe(true);
    expect(checkFormat('<think>x</think><answer>A</answer>\n')).toBe(false);
    expect(checkFormat('\n<think>x</think><answer>A</answer>')).toBe(false);
    expect(checkFormat('<think>x</think><answer>A')).toBe(false);
  });

  it('reads the FIRST one-line answer block (the grader reads the last)', () => {
    const r = '<think>x</think><answer>A</answer><answer>B</answer>';
    expect(checkFormat(r)).toBe(true);
    expect(extractRewardAnswer(r)).toBe('A');
    expect(computeReward(r, OPTS, 'A', OPTS.A)).toBe(1);
    expect(computeReward(r, OPTS, 'B', OPTS.B)).toBe(0);
    expect(gradeAnswer(r, OPTS, 'B', OPTS.B).correct).toBe(true);
  });

  it('a multi-line answer block falls back to the whole response', () => {
    const r = '<think>x</think><answer>\nA\n</answer>';
    expect(extractRewardAnswer(r)).toBe(r);
    expect(rewardAccuracy('A', 'A', OPTS.A)).toBe(true);
    // The same response graded by the paper's evaluator is right: the two differ on purpose.
    expect(gradeAnswer(r, OPTS, 'A', OPTS.A).correct).toBe(true);
  });

  it('ignores case of the letter and text; other options score 0', () => {
    expect(computeReward('<think>x</think><answer>a</answer>', OPTS, 'A', OPTS.A)).toBe(1);
    expect(computeReward('<think>x</think><answer>A. CAP STAGE.</answer>', OPTS, 'A', OPTS.A)).toBe(1);
    expect(computeReward('<think>x</think><answer>B</answer>', OPTS, 'A', OPTS.A)).toBe(0);
    expect(computeReward('<think>x</think><answer>Bell Stage.</answer>', OPTS, 'A', OPTS.A)).toBe(0);
  });

  it('takes the gold text from the options when none is given', () => {
    expect(computeReward('<think>x</think><answer>bud stage.</answer>', OPTS, 'C')).toBe(1);
  });
});
