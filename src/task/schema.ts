// The lab's one item type (recipe §1): every question, text-only or with images, is a multiple-choice
// item. Images stay as references until a batch needs pixels, so a 2,000-item benchmark costs only
// its text in memory; decoding lives in images.ts.

export interface ImageRef {
  /** Where the image comes from, for messages: a path inside the source, or `file.parquet#row/i`. */
  name: string;
  /** The encoded file (JPEG or PNG). Rejects with an InputError if the file is missing or unreadable. */
  load(): Promise<Uint8Array>;
}

export interface QAItem {
  images: ImageRef[];
  question: string;
  /** Letter -> option text, letters in display order (A, B, ...). */
  options: Record<string, string>;
  /** Gold letter, a key of `options`. */
  answer_label: string;
  /** Gold option text, `options[answer_label]`. */
  answer: string;
  reasoning?: string;
  dataset_name: string;
  /** Index of the record in its source file (array position or 0-based line/row). */
  dataset_index: number;
  /** First 16 hex characters of sha256(question + answer). */
  hash: string;
  split?: string;
  /** `file:line` or `file#row` of the record, so a later failure can name the input. */
  source?: string;
}

export const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** Options as the letter-keyed object the schema uses, from a list in display order. */
export function lettered(texts: string[]): Record<string, string> {
  if (texts.length > LETTERS.length) throw new Error(`${texts.length} options: at most ${LETTERS.length} can be lettered`);
  const out: Record<string, string> = {};
  texts.forEach((t, i) => {
    out[LETTERS[i]] = t;
  });
  return out;
}

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  // Web Crypto is in every browser (secure contexts) and in Node >= 20 as globalThis.crypto.
  if (!s) throw new Error('Web Crypto (crypto.subtle) is not available: the item hash needs it (use https or localhost in a browser)');
  return s;
}

export async function sha256Hex(text: string): Promise<string> {
  const digest = await subtle().digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The recipe's item id: the first 16 hex characters of sha256(question + answer). */
export async function itemHash(question: string, answer: string): Promise<string> {
  return (await sha256Hex(question + answer)).slice(0, 16);
}

/**
 * What is wrong with an item, or null. Catches what would make a grade meaningless: no options, a
 * gold letter that is not an option, an answer text that is not the gold option's text.
 */
export function itemProblem(item: Pick<QAItem, 'question' | 'options' | 'answer_label' | 'answer'>): string | null {
  if (typeof item.question !== 'string' || item.question.trim() === '') return 'empty question';
  const keys = Object.keys(item.options ?? {});
  if (keys.length === 0) return 'no options';
  for (const k of keys) {
    if (typeof item.options[k] !== 'string' || item.options[k].trim() === '') return `option ${k} is empty`;
  }
  if (!keys.includes(item.answer_label)) return `gold letter "${item.answer_label}" is not among the options ${keys.join(', ')}`;
  if (item.options[item.answer_label] !== item.answer) {
    return `answer text "${item.answer}" differs from option ${item.answer_label} "${item.options[item.answer_label]}"`;
  }
  return null;
}

/** Build an item, computing its hash; the answer text is taken from the options. */
export async function makeItem(fields: Omit<QAItem, 'hash' | 'answer'> & { hash?: string }): Promise<QAItem> {
  const answer = fields.options[fields.answer_label];
  const item: QAItem = { ...fields, answer, hash: fields.hash ?? '' };
  if (!item.hash) item.hash = await itemHash(item.question, answer ?? '');
  return item;
}

/** The options as the JSON object string the recipe's exchange formats store. */
export const optionsJson = (options: Record<string, string>) => JSON.stringify(options);
