import { InputError } from '../engine/errors';

// The chat format of lab models (Qwen style markers). The tokenizer, the ONNX export's chat template
// and the task's prompt all render turns with it.

/** Chat markers of lab models (Qwen style); `<|im_end|>` ends a turn and generation. */
export const CHAT = {
  start: '<|im_start|>',
  end: '<|im_end|>',
  image: '<image>',
  defaultSystem: 'You are a helpful assistant.',
} as const;

/**
 * The prompt string up to the assistant's first token: a system turn (the template default, as the
 * recipe sends no system message), then the user turn with each image's placeholder run first.
 */
export function chatPrompt(userText: string, nImages: number, imageTokens: number, system: string = CHAT.defaultSystem): string {
  const images = CHAT.image.repeat(nImages * imageTokens);
  return `${CHAT.start}system\n${system}${CHAT.end}\n${CHAT.start}user\n${images}${userText}${CHAT.end}\n${CHAT.start}assistant\n`;
}

/**
 * How a model's chat turns are written. Prompts carry one CHAT.image marker per image, which
 * `expandImages` then replaces with what that model's encoder fills (a run of placeholders for lab
 * models; Idefics3's tile grid of row/column tokens and placeholder runs).
 */
export interface ChatFormat {
  /** The prompt up to the assistant's first token: the user turn with `nImages` markers before its text. */
  prompt(userText: string, nImages: number): string;
  /** What follows the prompt for an assistant reply `text`, through the end-of-turn token. */
  reply(text: string): string;
  /** The token that ends a turn (and generation). */
  endOfTurn: string;
}

/** Lab models: the Qwen-style markers of CHAT with the default system turn. */
export const LAB_CHAT: ChatFormat = {
  prompt: (userText, nImages) => chatPrompt(userText, nImages, 1),
  reply: (text) => text + CHAT.end,
  endOfTurn: CHAT.end,
};

/** Replace the i-th CHAT.image marker of `text` with `expansions[i]`; the counts must agree. */
export function expandImages(text: string, expansions: string[], where = 'prompt'): string {
  const parts = text.split(CHAT.image);
  if (parts.length - 1 !== expansions.length) {
    throw new InputError(where, `the prompt has ${parts.length - 1} ${CHAT.image} markers for ${expansions.length} images`);
  }
  return parts.reduce((out, p, i) => out + (i > 0 ? expansions[i - 1] : '') + p);
}
