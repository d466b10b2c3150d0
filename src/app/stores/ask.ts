// Asking a model one question about an optional local image: a lab model (engine worker) or the
// loaded pretrained model (pretrained worker). The image stays in this tab and that worker;
// nothing is sent anywhere.
import { create } from 'zustand';
import type { AskReply, ItemView } from '../../lab/api';
import { callback, getEngine } from '../engine-client';
import { getPretrained } from '../../pretrained/client';
import { useJobs, type JobSpec } from './jobs';

export interface AskForm {
  question: string;
  /** One option per line: "A. text" or just "text" (letters are then given in order). */
  optionsText: string;
  image: { name: string; bytes: Uint8Array; mime: string } | null;
  recipePrompt: boolean;
  maxNewTokens: number;
  temperature: number;
}

interface AskState {
  form: AskForm;
  /** The answer so far, growing token by token. */
  text: string;
  reply: AskReply | null;
  asking: boolean;
  setForm(patch: Partial<AskForm>): void;
  fromItem(item: ItemView): void;
  /** Ask a lab model (a path in the workspace). */
  ask(model: string): Promise<void>;
  /** Ask the pretrained model loaded in the pretrained worker (`label` names it in the job bar). */
  askPretrained(label: string): Promise<void>;
}

const LETTER_LINE = /^\s*\(?([A-Z])[.):]\s+(.*)$/;

/** Options from the text box: "A. Yes" lines keep their letter; bare lines get the next free one. */
export function parseOptions(text: string): Record<string, string> | undefined {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  if (!lines.length) return undefined;
  const out: Record<string, string> = {};
  let next = 0;
  for (const line of lines) {
    const m = LETTER_LINE.exec(line);
    if (m && !(m[1] in out)) {
      out[m[1]] = m[2].trim();
      continue;
    }
    while (String.fromCharCode(65 + next) in out) next++;
    out[String.fromCharCode(65 + next)] = line;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

export const optionsText = (options: Record<string, string>) =>
  Object.entries(options)
    .map(([k, v]) => `${k}. ${v}`)
    .join('\n');

let asked = 0;

export const useAsk = create<AskState>()((set, get) => ({
  form: { question: '', optionsText: '', image: null, recipePrompt: true, maxNewTokens: 128, temperature: 0 },
  text: '',
  reply: null,
  asking: false,

  setForm(patch) {
    set({ form: { ...get().form, ...patch } });
  },

  fromItem(item) {
    const im = item.images[0];
    get().setForm({
      question: item.question,
      optionsText: optionsText(item.options),
      image: im ? { name: im.name, bytes: im.bytes, mime: im.mime } : null,
    });
  },

  async ask(model) {
    const f = get().form;
    await stream(set, { kind: 'ask', label: `Answering with ${model}`, cancel: () => getEngine().cancel() }, (onText) =>
      getEngine().ask(
        {
          model,
          question: f.question,
          options: parseOptions(f.optionsText),
          image: f.image?.bytes,
          recipePrompt: f.recipePrompt,
          maxNewTokens: f.maxNewTokens,
          temperature: f.temperature,
        },
        onText,
      ),
    );
  },

  async askPretrained(label) {
    const f = get().form;
    await stream(set, { kind: 'ask', lane: 'pretrained', label: `Answering with ${label}`, cancel: () => getPretrained().cancel() }, (onText) =>
      getPretrained().ask(
        {
          question: f.question,
          options: parseOptions(f.optionsText),
          image: f.image?.bytes,
          recipePrompt: f.recipePrompt,
          maxNewTokens: f.maxNewTokens,
          temperature: f.temperature,
        },
        onText,
      ),
    );
  },
}));

/** One question as a job, its text streaming into the store as the worker writes it. */
async function stream(set: (p: Partial<AskState>) => void, spec: JobSpec, call: (onText: (soFar: string) => void) => Promise<AskReply>): Promise<void> {
  // Tokens come back over their own comlink port and may trail the reply: only this question's, and only before its reply.
  const id = ++asked;
  let done = false;
  set({ text: '', reply: null, asking: true });
  try {
    const reply = await useJobs.getState().run(spec, () =>
      call(
        callback((soFar: string) => {
          if (!done && id === asked) set({ text: soFar });
        }),
      ),
    );
    done = true;
    if (reply && id === asked) set({ reply, text: reply.text });
  } finally {
    done = true;
    if (id === asked) set({ asking: false });
  }
}
