// A byte-level BPE trainer (the GPT-2 / Llama-3 / Qwen scheme): text is split by the ByteLevel
// pre-tokenizer regex, each piece becomes its UTF-8 bytes, and the most frequent adjacent pair is
// merged into a new symbol until the vocabulary is full. Every byte is in the base vocabulary,
// so any text encodes and decodes losslessly. The output is a Hugging Face tokenizer.json that
// @huggingface/tokenizers (and the Rust/Python tokenizers library) load as-is.

import { InputError } from '../engine/errors';

/** The ByteLevel pre-tokenizer split (use_regex: true): contractions, words, numbers, punctuation runs, spaces. */
export const BYTE_LEVEL_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

let byteChars: string[] | null = null;
/**
 * Byte -> printable character, as GPT-2 defined it: bytes that are already visible Latin-1
 * characters stand for themselves, the rest (controls, space, soft hyphen...) are moved to
 * U+0100 onwards in byte order. Tokens thus never contain whitespace or control characters,
 * which keeps vocab files readable and lets merges be written as "left right".
 */
export function byteToUnicode(): readonly string[] {
  if (byteChars) return byteChars;
  const visible = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = new Array(256);
  let next = 256;
  for (let b = 0; b < 256; b++) out[b] = String.fromCodePoint(visible(b) ? b : next++);
  return (byteChars = out);
}

/** The ByteLevel pre-tokenizer: split, then spell each piece's UTF-8 bytes with byteToUnicode. */
export function byteLevelPreTokenize(text: string): string[] {
  const map = byteToUnicode();
  const enc = new TextEncoder();
  return (text.match(BYTE_LEVEL_SPLIT) ?? []).map((p) => Array.from(enc.encode(p), (b) => map[b]).join(''));
}

export interface BpeTrainOptions {
  /** Final vocabulary size: 256 byte tokens + learned merges + special tokens. */
  vocabSize: number;
  /** Added as special tokens (single ids, never split, never merged), after the learned vocabulary. */
  specialTokens?: string[];
  /** Pairs seen fewer times than this are never merged (default 2). */
  minFrequency?: number;
  /** Written to tokenizer_config.json; each must be one of specialTokens. */
  bosToken?: string;
  eosToken?: string;
  padToken?: string;
}

export interface TrainedBpe {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  merges: [string, string][];
  /** Final vocabulary size (may be below the target when the corpus ran out of repeated pairs). */
  vocabSize: number;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Max-heap of candidate pairs by count, ties to the smaller (left, right) ids for determinism. */
class PairHeap {
  private items: { count: number; key: number }[] = [];
  private better(i: number, j: number) {
    const a = this.items[i],
      b = this.items[j];
    return a.count > b.count || (a.count === b.count && a.key < b.key);
  }
  private swap(i: number, j: number) {
    const t = this.items[i];
    this.items[i] = this.items[j];
    this.items[j] = t;
  }
  push(count: number, key: number) {
    const it = this.items;
    it.push({ count, key });
    let i = it.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.better(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  pop(): { count: number; key: number } | undefined {
    const it = this.items;
    if (it.length === 0) return undefined;
    const top = it[0];
    const last = it.pop()!;
    if (it.length > 0) {
      it[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1,
          r = l + 1;
        let m = i;
        if (l < it.length && this.better(l, m)) m = l;
        if (r < it.length && this.better(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
}

/** Pair keys pack (left, right) ids into one number; 2^21 ids is far beyond any vocabulary here. */
const SHIFT = 2 ** 21;

/** The lab's chat, vision and reasoning markers, in the order their ids are assigned. */
export const LAB_SPECIAL_TOKENS: readonly string[] = ['<|im_start|>', '<|im_end|>', '<|endoftext|>', '<image>', '<think>', '</think>', '<answer>', '</answer>'];

/**
 * Learn merges from `corpus` (one string, or documents) and build tokenizer.json and
 * tokenizer_config.json. A single string is one document, not an iterable of characters.
 */
export function trainByteLevelBpe(corpus: string | Iterable<string>, opts: BpeTrainOptions): TrainedBpe {
  const where = 'BPE trainer';
  const specials = opts.specialTokens ?? [];
  const minFreq = opts.minFrequency ?? 2;
  if (new Set(specials).size !== specials.length || specials.some((s) => s.length === 0)) {
    throw new InputError(where, `special tokens must be distinct and non-empty, got ${JSON.stringify(specials)}`);
  }
  if (!Number.isSafeInteger(opts.vocabSize) || opts.vocabSize < 256 + specials.length || opts.vocabSize >= SHIFT) {
    throw new InputError(
      where,
      `vocabSize ${opts.vocabSize} must be an integer from ${256 + specials.length} (256 bytes + ${specials.length} special tokens) to ${SHIFT - 1}`,
    );
  }
  for (const k of ['bosToken', 'eosToken', 'padToken'] as const) {
    const t = opts[k];
    if (t !== undefined && !specials.includes(t)) throw new InputError(where, `${k} "${t}" is not one of the special tokens`);
  }

  // Count distinct pre-tokenized pieces. Special tokens are cut out first so their text never
  // feeds merges (they get their own ids and the tokenizer never splits them).
  const splitter = specials.length
    ? new RegExp(
        [...specials]
          .sort((a, b) => b.length - a.length)
          .map(escapeRe)
          .join('|'),
        'g',
      )
    : null;
  const pieceCounts = new Map<string, number>();
  for (const doc of typeof corpus === 'string' ? [corpus] : corpus) {
    for (const part of splitter ? doc.split(splitter) : [doc]) {
      for (const p of part.match(BYTE_LEVEL_SPLIT) ?? []) pieceCounts.set(p, (pieceCounts.get(p) ?? 0) + 1);
    }
  }

  const enc = new TextEncoder();
  const words: number[][] = [];
  const counts: number[] = [];
  for (const [p, c] of pieceCounts) {
    words.push(Array.from(enc.encode(p)));
    counts.push(c);
  }

  // Base vocabulary: id b is byte b.
  const symbols: string[] = [...byteToUnicode()];
  const idOf = new Map<string, number>(symbols.map((s, i) => [s, i]));

  const pairCount = new Map<number, number>();
  const where_ = new Map<number, Set<number>>();
  const addWordPairs = (wi: number, sign: 1 | -1, changed: Set<number>) => {
    const w = words[wi],
      c = counts[wi] * sign;
    for (let i = 0; i + 1 < w.length; i++) {
      const key = w[i] * SHIFT + w[i + 1];
      pairCount.set(key, (pairCount.get(key) ?? 0) + c);
      changed.add(key);
      if (sign > 0) {
        let s = where_.get(key);
        if (!s) where_.set(key, (s = new Set()));
        s.add(wi);
      }
    }
  };
  const heap = new PairHeap();
  const init = new Set<number>();
  for (let wi = 0; wi < words.length; wi++) addWordPairs(wi, 1, init);
  for (const k of init) heap.push(pairCount.get(k)!, k);

  const merges: [string, string][] = [];
  const target = opts.vocabSize - specials.length;
  while (symbols.length < target) {
    let best: { count: number; key: number } | undefined;
    // Entries go stale as counts change; a popped entry counts only if it is still current.
    while ((best = heap.pop()) && pairCount.get(best.key) !== best.count);
    if (!best || best.count < minFreq) break;
    const a = Math.floor(best.key / SHIFT),
      b = best.key % SHIFT;
    const merged = symbols[a] + symbols[b];
    // Two different merge paths can spell the same string; like the reference trainer, the
    // existing id is reused and only the merge rule is new.
    let id = idOf.get(merged);
    if (id === undefined) {
      id = symbols.length;
      symbols.push(merged);
      idOf.set(merged, id);
    }
    merges.push([symbols[a], symbols[b]]);

    const changed = new Set<number>();
    for (const wi of where_.get(best.key) ?? []) {
      const w = words[wi];
      let hit = false;
      for (let i = 0; i + 1 < w.length; i++)
        if (w[i] === a && w[i + 1] === b) {
          hit = true;
          break;
        }
      if (!hit) continue;
      addWordPairs(wi, -1, changed);
      const nw: number[] = [];
      for (let i = 0; i < w.length; ) {
        if (i + 1 < w.length && w[i] === a && w[i + 1] === b) {
          nw.push(id);
          i += 2;
        } else nw.push(w[i++]);
      }
      words[wi] = nw;
      addWordPairs(wi, 1, changed);
    }
    pairCount.delete(best.key);
    where_.delete(best.key);
    changed.delete(best.key);
    for (const k of changed) {
      const c = pairCount.get(k)!;
      if (c > 0) heap.push(c, k);
      else {
        pairCount.delete(k);
        where_.delete(k);
      }
    }
  }

  const vocab: Record<string, number> = {};
  symbols.forEach((s, i) => {
    vocab[s] = i;
  });
  const added = specials.map((content, i) => {
    vocab[content] = symbols.length + i;
    return { id: symbols.length + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
  });

  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      // Byte-level symbols never contain a space, so the classic "left right" form is unambiguous
      // and readable by every tokenizers version.
      merges: merges.map(([l, r]) => `${l} ${r}`),
    },
  };
  const tokenizerConfig: Record<string, unknown> = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    clean_up_tokenization_spaces: false,
    model_max_length: 1_000_000_000,
  };
  if (opts.bosToken !== undefined) tokenizerConfig.bos_token = opts.bosToken;
  if (opts.eosToken !== undefined) tokenizerConfig.eos_token = opts.eosToken;
  if (opts.padToken !== undefined) tokenizerConfig.pad_token = opts.padToken;
  return { tokenizerJson, tokenizerConfig, merges, vocabSize: symbols.length + specials.length };
}

/** Shorthand for callers that only need tokenizer.json (no bos/eos/pad in a tokenizer_config). */
export function trainBpe(corpus: string | Iterable<string>, opts: BpeTrainOptions): Record<string, unknown> {
  return trainByteLevelBpe(corpus, opts).tokenizerJson;
}
