import { describe, expect, it } from 'vitest';
import { answerMatches, explainGrade, extractAnswer, gradeAnswer, pyStrip } from '../../src/task/grader';

const OPTS = { A: 'Cap Stage.', B: 'Heart', C: 'Lung', D: 'Liver' };

describe('paper grader (recipe §6): extraction', () => {
  it('reads the last <answer> block, not the first', () => {
    expect(extractAnswer('<think>x</think><answer>A</answer> wait <answer>C</answer>')).toBe('C');
  });

  it('takes the first non-empty line of a multi-line block', () => {
    expect(extractAnswer('<think>x</think><answer>\n\n   \n  B. Heart  \nbecause ...\n</answer>')).toBe('B. Heart');
  });

  it('an empty block gives an empty answer, without falling back', () => {
    expect(extractAnswer('Answer: B <answer>\n  \n</answer>')).toBe('');
  });

  it('without a block: last match of "answer:" (case-insensitive)', () => {
    expect(extractAnswer('Answer: A\nthinking more...\nfinal ANSWER: c')).toBe('c');
  });

  it('"answer:" may be followed by line breaks before the text (\\s* crosses lines)', () => {
    expect(extractAnswer('So the answer:\n\nB')).toBe('B');
  });

  it('fallbacks in order: "answer is:" before "answer is" before "is:"', () => {
    expect(extractAnswer('The answer is: D')).toBe('D');
    // "answer is" wins over "is:" although "is:" alone would give B.
    expect(extractAnswer('The answer is A. Also the key is: B')).toBe('A. Also the key is: B');
    expect(extractAnswer('My choice is: C')).toBe('C');
    // "answer:" wins over a later "answer is:".
    expect(extractAnswer('answer: A\nthe answer is: B')).toBe('A');
  });

  it('with no block and no pattern, the whole text stripped', () => {
    expect(extractAnswer('  \n B \n')).toBe('B');
  });

  it('removes <think>, </think>, <answer>, </answer> after extraction', () => {
    expect(extractAnswer('<think>long</think> Answer: <answer>B')).toBe('B');
    expect(extractAnswer('<think></think><answer> C ')).toBe('C');
  });

  it("keeps Python's meaning of `.`: it matches a carriage return", () => {
    expect(extractAnswer('Answer: B\rC')).toBe('B\rC');
  });

  it("strips Python's whitespace set (U+0085, U+001F) but not U+FEFF", () => {
    expect(pyStrip('\x85\x1f B \u3000')).toBe('B');
    expect(extractAnswer('<answer>\x85B\x85</answer>')).toBe('B');
    expect(extractAnswer('<answer>\ufeffB</answer>')).toBe('\ufeffB');
  });
});

describe('paper grader (recipe §6): matching', () => {
  it('letter, "L. text" and text, ignoring case and surrounding spaces', () => {
    for (const r of [
      '<answer>A</answer>',
      '<answer> a </answer>',
      '<answer>A. Cap Stage.</answer>',
      '<answer>a. cap stage.</answer>',
      '<answer>cap stage.</answer>',
      '<answer>  CAP STAGE.  </answer>',
    ]) {
      expect(gradeAnswer(r, OPTS, 'A', OPTS.A), r).toEqual({ extracted: pyStrip(r.replace(/<\/?answer>/g, '')), predLetter: 'A', correct: true });
    }
  });

  it('other forms are wrong', () => {
    for (const r of [
      '<answer>(A)</answer>',
      '<answer>A)</answer>',
      '<answer>A.Cap Stage.</answer>',
      '<answer>Cap Stage</answer>',
      '<answer>option A</answer>',
      '<answer>A: Cap Stage.</answer>',
    ]) {
      const g = gradeAnswer(r, OPTS, 'A', OPTS.A);
      expect(g.correct, r).toBe(false);
      expect(g.predLetter, r).toBe(null);
    }
  });

  it('a wrong but valid answer names its letter', () => {
    expect(gradeAnswer('<think>..</think><answer>lung</answer>', OPTS, 'A', OPTS.A)).toEqual({ extracted: 'lung', predLetter: 'C', correct: false });
  });

  it('the predicted letter is the first option that matches', () => {
    // "B" is option A's text and option B's letter: the first match in order is A.
    const opts = { A: 'B', B: 'Heart' };
    expect(gradeAnswer('<answer>B</answer>', opts, 'B', 'Heart')).toEqual({ extracted: 'B', predLetter: 'A', correct: true });
    expect(gradeAnswer('<answer>yes</answer>', { A: 'Yes', B: 'yes' }, 'B', 'yes').predLetter).toBe('A');
  });

  it('correctness is judged against the gold label and text given', () => {
    expect(gradeAnswer('<answer>Heart</answer>', OPTS, 'B', 'Heart').correct).toBe(true);
    expect(gradeAnswer('<answer>Heart</answer>', OPTS, 'C', 'Lung').correct).toBe(false);
    // Without a gold text the gold option's text is used.
    expect(gradeAnswer('<answer>lung</answer>', OPTS, 'C').correct).toBe(true);
  });

  it('answerMatches is symmetric in surrounding spaces of the option text', () => {
    expect(answerMatches('heart', 'B', ' Heart ')).toBe(true);
    expect(answerMatches('B. Heart', 'B', 'Heart')).toBe(true);
    expect(answerMatches('B.  Heart', 'B', 'Heart')).toBe(false);
  });
});

describe('explainGrade: what the grader read and why a response scored 0', () => {
  const opts = { A: 'Yes', B: 'No', C: 'Unsure' };

  it('agrees with gradeAnswer on every case and gives no reason for a correct answer', () => {
    const cases = [
      '<think>x</think><answer>C</answer>',
      '<think>x</think><answer>C',
      '<answer>B</answer>',
      'The answer is: C',
      '<answer></answer>',
      'nothing here',
      '<answer>A</answer><answer>C',
    ];
    for (const r of cases) {
      const e = explainGrade(r, opts, 'C');
      const g = gradeAnswer(r, opts, 'C');
      expect({ extracted: e.extracted, predLetter: e.predLetter, correct: e.correct }).toEqual(g);
      expect(e.why === null).toBe(g.correct);
    }
  });

  it('names an unclosed <answer>, an answer of another option, one that matches none, and an empty one', () => {
    // Unclosed, and the whole response (tags removed) is what the grader compares: "xC" is no option.
    const unclosed = explainGrade('<think>x</think><answer>C', opts, 'C');
    expect(unclosed).toMatchObject({ correct: false, unclosed: true, source: 'whole response', extracted: 'xC', predLetter: null });
    expect(unclosed.why).toMatch(/^<answer> is never closed: with no closed <answer> block the grader read the whole response, which matches no option$/);
    // Unclosed after a closed block: the closed block is what counts.
    const after = explainGrade('<answer>A</answer> then <answer>C', opts, 'C');
    expect(after).toMatchObject({ unclosed: true, source: 'answer block', predLetter: 'A' });
    expect(after.why).toBe('<answer> is never closed: the last <answer> block reads «A», which is option A; the gold answer is C');
    expect(explainGrade('<answer>B</answer>', opts, 'C').why).toBe('the last <answer> block reads «B», which is option B; the gold answer is C');
    expect(explainGrade('<answer>maybe</answer>', opts, 'C').why).toMatch(/reads «maybe», which matches no option \(a letter/);
    expect(explainGrade('<answer>\n</answer>', opts, 'C').why).toBe('the last <answer> block reads «»: it is empty');
    expect(explainGrade('so the answer: B', opts, 'C').why).toBe(
      'with no closed <answer> block the grader read the text after "answer", «B», which is option B; the gold answer is C',
    );
  });

  it('without a gold answer (Ask) explains only how the answer was read', () => {
    expect(explainGrade('<answer>B</answer>', opts, '').why).toBeNull();
    expect(explainGrade('<answer>B', opts, '').why).toMatch(/^<answer> is never closed/);
    expect(explainGrade('<answer>perhaps</answer>', opts, '').why).toMatch(/matches no option/);
  });
});
