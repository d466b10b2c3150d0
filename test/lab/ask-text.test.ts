// The Ask page's user turn: the recipe prompt (recipe §3) with either line break, or the question as typed.
import { it, expect } from 'vitest';
import { askText } from '../../src/lab/evaluate';
import { promptText } from '../../src/task/prompt';

it('builds the recipe prompt with the chosen line break, or the plain question with its options', () => {
  const q = { question: 'Which side is the lesion on?', options: { A: 'left', B: 'right' } };
  const literal = askText({ ...q, recipePrompt: true });
  const real = askText({ ...q, recipePrompt: true, newline: 'real' });
  expect(literal).toBe(promptText(q, { newline: 'literal' }));
  expect(real).toBe(promptText(q, { newline: 'real' }));
  expect(literal).toContain('\\n');
  expect(real).not.toBe(literal);
  expect(askText({ ...q, recipePrompt: false })).toBe('Which side is the lesion on?\n\nA. left\nB. right');
  expect(askText({ question: 'What is this?', recipePrompt: true })).toBe('What is this?');
});
