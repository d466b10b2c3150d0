import { describe, expect, it, vi } from 'vitest';
import { Readable } from 'node:stream';
import { Command } from 'commander';
import { gradeLine, registerGrade, runGrade } from '../../src/cli/commands/grade';

const OPTS = { A: 'Heart', B: 'Lung' };
const line = (o: unknown) => JSON.stringify(o);

describe('thinker grade', () => {
  it('one output per input line, in order, with grader and reward side by side', async () => {
    const input = [
      line({ response: '<think>x</think><answer>B</answer>', options: OPTS, answer_label: 'B', answer: 'Lung' }),
      line({ response: 'I think the answer is: heart', options: OPTS, answer_label: 'B', answer: 'Lung' }),
      '',
      // Right for the grader (last block, multi-line), 0 for the reward (not one line).
      line({ response: '<think>x</think><answer>\nB. Lung\n</answer>', options: OPTS, answer_label: 'B' }),
      // options as the schema's JSON string.
      line({ response: '<think>x</think><answer>lung</answer>', options: JSON.stringify(OPTS), answer_label: 'B', answer: 'Lung' }),
    ];
    const out: string[] = [];
    const err: string[] = [];
    const r = await runGrade(
      input,
      (s) => out.push(s),
      (s) => err.push(s),
    );
    expect(r).toEqual({ graded: 4, bad: 0 });
    expect(err).toEqual([]);
    expect(out.map((s) => JSON.parse(s))).toEqual([
      { extracted: 'B', pred_letter: 'B', correct: true, reward: 1 },
      { extracted: 'heart', pred_letter: 'A', correct: false, reward: 0 },
      { extracted: 'B. Lung', pred_letter: 'B', correct: true, reward: 0 },
      { extracted: 'lung', pred_letter: 'B', correct: true, reward: 1 },
    ]);
    expect(Object.keys(JSON.parse(out[0]))).toEqual(['extracted', 'pred_letter', 'correct', 'reward']);
  });

  it('bad lines: an error naming the line number, in place, and the rest still graded', async () => {
    const input = [
      line({ response: 'A', options: OPTS, answer_label: 'A' }),
      '{"response": ',
      line({ response: 'A', options: {}, answer_label: 'A' }),
      line({ response: 'A', options: OPTS, answer_label: 'C' }),
      line({ options: OPTS, answer_label: 'A' }),
      '[1,2]',
      line({ response: 'lung', options: OPTS, answer_label: 'B' }),
    ];
    const out: string[] = [];
    const err: string[] = [];
    const r = await runGrade(
      input,
      (s) => out.push(s),
      (s) => err.push(s),
    );
    expect(r).toEqual({ graded: 2, bad: 5 });
    const parsed = out.map((s) => JSON.parse(s));
    expect(parsed.length).toBe(7);
    expect(parsed[0]).toEqual({ extracted: 'A', pred_letter: 'A', correct: true, reward: 0 });
    expect(parsed.slice(1, 6).map((p) => p.line)).toEqual([2, 3, 4, 5, 6]);
    expect(parsed[1].error).toMatch(/^stdin:2: not valid JSON/);
    expect(parsed[2].error).toBe('stdin:3: "options" must be a non-empty object of letter -> text');
    expect(parsed[3].error).toBe('stdin:4: "answer_label" "C" is not one of the options A, B');
    expect(parsed[4].error).toBe('stdin:5: "response" must be a string');
    expect(parsed[5].error).toBe('stdin:6: expected a JSON object');
    expect(parsed[6].correct).toBe(true);
    expect(err.length).toBe(5);
    expect(err[0]).toMatch(/^thinker grade: stdin:2:/);
  });

  it('gradeLine takes the gold text from the options when "answer" is absent', () => {
    expect(gradeLine(line({ response: '<think></think><answer>heart</answer>', options: OPTS, answer_label: 'A' }), 1)).toEqual({
      extracted: 'heart',
      pred_letter: 'A',
      correct: true,
      reward: 1,
    });
  });

  it('as a command: reads stdin, writes stdout, fails when a line is bad', async () => {
    const run = async (text: string) => {
      const program = new Command('thinker').exitOverride();
      registerGrade(program);
      const stdin = Object.getOwnPropertyDescriptor(process, 'stdin')!;
      Object.defineProperty(process, 'stdin', { value: Readable.from([text]), configurable: true });
      const out: string[] = [];
      const w = vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
        out.push(String(s));
        return true;
      });
      const e = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
      try {
        await program.parseAsync(['grade'], { from: 'user' });
        return { out, error: null as Error | null };
      } catch (err) {
        return { out, error: err as Error };
      } finally {
        w.mockRestore();
        e.mockRestore();
        Object.defineProperty(process, 'stdin', stdin);
      }
    };
    const ok = await run(
      `${line({ response: '<think>a</think><answer>A</answer>', options: OPTS, answer_label: 'A', answer: 'Heart' })}\r\n${line({ response: 'B', options: OPTS, answer_label: 'A' })}\n`,
    );
    expect(ok.error).toBe(null);
    expect(ok.out.join('')).toBe(
      '{"extracted":"A","pred_letter":"A","correct":true,"reward":1}\n{"extracted":"B","pred_letter":"B","correct":false,"reward":0}\n',
    );
    const bad = await run('nope\n');
    expect(bad.error?.message).toBe('stdin: 1 of 1 lines could not be graded');
    expect(bad.out.join('')).toMatch(/^\{"line":1,"error":"stdin:1: not valid JSON/);
  });
});
