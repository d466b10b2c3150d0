import type { Command } from 'commander';
import { createInterface } from 'node:readline';
import { InputError } from '../../engine/errors';
import { gradeAnswer } from '../../task/grader';
import { computeReward } from '../../task/reward';
import { parseOptions } from '../../data/loaders/common';

export interface GradeOutput {
  extracted: string;
  pred_letter: string | null;
  correct: boolean;
  reward: 0 | 1;
}

/** Grade one input line `{"response", "options", "answer_label", "answer"}`; throws an InputError naming the line. */
export function gradeLine(text: string, lineNo: number): GradeOutput {
  const where = `stdin:${lineNo}`;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new InputError(where, `not valid JSON (${(e as Error).message})`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new InputError(where, 'expected a JSON object');
  const o = v as Record<string, unknown>;
  if (typeof o.response !== 'string') throw new InputError(where, '"response" must be a string');
  const options = parseOptions(o.options);
  if (!options || Object.keys(options).length === 0) throw new InputError(where, '"options" must be a non-empty object of letter -> text');
  if (typeof o.answer_label !== 'string' || !(o.answer_label in options)) {
    throw new InputError(where, `"answer_label" ${JSON.stringify(o.answer_label)} is not one of the options ${Object.keys(options).join(', ')}`);
  }
  if (o.answer !== undefined && typeof o.answer !== 'string') throw new InputError(where, '"answer" must be a string');
  const answer = (o.answer as string | undefined) ?? options[o.answer_label];
  const g = gradeAnswer(o.response, options, o.answer_label, answer);
  return { extracted: g.extracted, pred_letter: g.predLetter, correct: g.correct, reward: computeReward(o.response, options, o.answer_label, answer) };
}

/**
 * Grade JSON lines in order: one output line per non-blank input line. A bad line gets
 * `{"line": N, "error": ...}` in its place (so outputs stay aligned with inputs) and a message on
 * the error stream. Returns the number of bad lines.
 */
export async function runGrade(
  lines: AsyncIterable<string> | Iterable<string>,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<{ graded: number; bad: number }> {
  let lineNo = 0;
  let graded = 0;
  let bad = 0;
  for await (const raw of lines) {
    lineNo++;
    const text = raw.replace(/\r$/, '');
    if (text.trim() === '') continue;
    try {
      out(JSON.stringify(gradeLine(text, lineNo)));
      graded++;
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      bad++;
      out(JSON.stringify({ line: lineNo, error: e.message }));
      err(`thinker grade: ${e.message}`);
    }
  }
  return { graded, bad };
}

/** `thinker grade`: grade external predictions read as JSON lines on stdin. */
export function registerGrade(program: Command) {
  program
    .command('grade')
    .description(
      'grade predictions: JSON lines {"response","options","answer_label","answer"} on stdin -> {"extracted","pred_letter","correct","reward"} per line on stdout (paper grader §6 and training reward §5)',
    )
    .action(async () => {
      const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
      const { graded, bad } = await runGrade(
        rl,
        (s) => process.stdout.write(`${s}\n`),
        (s) => process.stderr.write(`${s}\n`),
      );
      if (bad > 0) throw new InputError('stdin', `${bad} of ${graded + bad} lines could not be graded`);
    });
}
