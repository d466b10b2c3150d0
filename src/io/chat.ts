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
