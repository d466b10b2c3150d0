// Splitting a streamed answer into its think and answer parts for display, while it is still
// growing (a tag may not be closed yet).

export interface AnswerParts {
  /** Text before <think> (should be empty in the recipe's format). */
  before: string;
  think: string | null;
  /** Between </think> and <answer>. */
  between: string;
  answer: string | null;
  after: string;
}

export function splitAnswer(text: string): AnswerParts {
  const out: AnswerParts = { before: text, think: null, between: '', answer: null, after: '' };
  const t0 = text.indexOf('<think>');
  if (t0 < 0) return out;
  out.before = text.slice(0, t0);
  const rest = text.slice(t0 + 7);
  const t1 = rest.indexOf('</think>');
  if (t1 < 0) {
    out.think = rest;
    return out;
  }
  out.think = rest.slice(0, t1);
  const tail = rest.slice(t1 + 8);
  const a0 = tail.indexOf('<answer>');
  if (a0 < 0) {
    out.between = tail;
    return out;
  }
  out.between = tail.slice(0, a0);
  const ans = tail.slice(a0 + 8);
  const a1 = ans.indexOf('</answer>');
  if (a1 < 0) {
    out.answer = ans;
    return out;
  }
  out.answer = ans.slice(0, a1);
  out.after = ans.slice(a1 + 9);
  return out;
}
