// A checkpoint's own chat template (tokenizer_config.json or chat_template.json), run by
// @huggingface/jinja, as a ChatFormat: pretrained models (SmolVLM) are prompted exactly as they were
// trained. Messages use transformers' content-list form ({type: 'image'} / {type: 'text'}), which
// the multimodal templates read.
import { Template } from '@huggingface/jinja';
import { InputError } from '../engine/errors';
import type { ChatFormat } from './chat';
import type { TextTokenizer } from './tokenizer';

type Message = { role: string; content: { type: string; text?: string }[] };

const user = (text: string, nImages: number): Message => ({
  role: 'user',
  content: [...Array.from({ length: nImages }, () => ({ type: 'image' })), { type: 'text', text }],
});
const assistant = (text: string): Message => ({ role: 'assistant', content: [{ type: 'text', text }] });

export function templateChat(template: string, tok: TextTokenizer, where: string): ChatFormat {
  let t: Template;
  try {
    t = new Template(template);
  } catch (e) {
    throw new InputError(where, `the chat template does not parse: ${(e as Error).message}`);
  }
  const token = (id: number | undefined) => (id === undefined ? '' : (tok.idToToken(id) ?? ''));
  const render = (messages: Message[], generationPrompt: boolean): string => {
    try {
      return t.render({ messages, add_generation_prompt: generationPrompt, bos_token: token(tok.bosId), eos_token: token(tok.eosIds[0]) });
    } catch (e) {
      throw new InputError(where, `the chat template failed to render: ${(e as Error).message}`);
    }
  };
  const prompt = (text: string, nImages: number) => render([user(text, nImages)], true);
  // The end of a turn is the first special token the template writes after an assistant reply.
  const probe = 'REPLY';
  const full = render([user('Q', 0), assistant(probe)], false);
  const after = full.slice(full.lastIndexOf(probe) + probe.length);
  const endOfTurn = [...tok.specialTokens.keys()]
    .filter((k) => after.includes(k))
    .sort((a, b) => after.indexOf(a) - after.indexOf(b) || b.length - a.length)[0];
  if (!endOfTurn) throw new InputError(where, 'the chat template writes no special token after a reply, so the end of a turn is unknown');
  const base = prompt('Q', 0);
  if (!full.startsWith(base)) {
    throw new InputError(where, 'the chat template writes a conversation that does not start with its own generation prompt');
  }
  return {
    prompt,
    reply(text: string) {
      const conv = render([user('Q', 0), assistant(text)], false);
      const r = conv.slice(base.length);
      const end = r.indexOf(endOfTurn, r.lastIndexOf(text) + text.length);
      return r.slice(0, end + endOfTurn.length);
    },
    endOfTurn,
  };
}
