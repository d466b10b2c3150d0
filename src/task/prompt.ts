// The recipe's prompt (recipe.md §3) and SFT target (§4), and the chat format lab models use.
// The same prompt serves SFT, GRPO, pass-count sampling and evaluation.

import type { QAItem } from './schema';

/**
 * The instruction of the released code. Its `\n` is a literal backslash-n (the original is a raw
 * string), and that is the default here; `newline: 'real'` swaps in a real line break.
 */
export const INSTRUCTION_LITERAL =
  'You will solve a problem/request. You should provide your thoughts within <think> </think> tags before providing the answer.\\nWrite your final answer within <answer> </answer> tags.';
export const INSTRUCTION_REAL = INSTRUCTION_LITERAL.replace('\\n', '\n');

export interface PromptOptions {
  /** 'literal' (default, as the paper's code) or 'real' newline inside the instruction. */
  newline?: 'literal' | 'real';
}

/**
 * What a person asks, as a user turn: the recipe's prompt when asked for and there are options
 * (the model then answers with think/answer tags), else the question and its lettered options.
 */
export function askText(req: { question: string; options?: Record<string, string>; recipePrompt: boolean; prompt?: PromptOptions }): string {
  if (req.options && req.recipePrompt) return promptText({ question: req.question, options: req.options }, req.prompt);
  if (!req.options) return req.question;
  return `${req.question}\n\n${Object.entries(req.options)
    .map(([k, v]) => `${k}. ${v}`)
    .join('\n')}`;
}

/** The user turn's text: instruction, question, lettered options. */
export function promptText(item: Pick<QAItem, 'question' | 'options'>, o: PromptOptions = {}): string {
  const instruction = o.newline === 'real' ? INSTRUCTION_REAL : INSTRUCTION_LITERAL;
  const options = Object.entries(item.options)
    .map(([k, v]) => `${k}. ${v}`)
    .join('\n\n');
  return `${instruction}\n\nQuestion: ${item.question}\n\nOptions:\n\n${options}`;
}

/** The assistant target of SFT: the trace and the letter only. */
export function sftTarget(item: Pick<QAItem, 'reasoning' | 'answer_label'>): string {
  return `<think> ${item.reasoning ?? ''} </think>\n<answer> ${item.answer_label} </answer>`;
}
