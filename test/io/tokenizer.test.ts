import { describe, it, expect } from 'vitest';
import { ByteLevelPreTokenizer } from '@huggingface/tokenizers';
import { rng } from '../helpers/gpu';
import { InputError } from '../../src/engine/errors';
import { MemoryWorkspace } from '../../src/io/workspace';
import { loadTokenizer, tokenizerFromJson } from '../../src/io/tokenizer';
import { LAB_SPECIAL_TOKENS, byteLevelPreTokenize, byteToUnicode, trainBpe, trainByteLevelBpe } from '../../src/io/bpe-trainer';

const SPECIALS = ['<|im_start|>', '<|im_end|>', '<|endoftext|>', '<image>', '<think>', '</think>', '<answer>', '</answer>'];

/** A few KB of seeded pseudo-text: repeated vocabulary (so merges pay off), digits, punctuation, some non-ASCII. */
function corpus(seed: number, sentences: number): string[] {
  const r = rng(seed);
  const words = [
    'the',
    'patient',
    'shows',
    'a',
    'lesion',
    'in',
    'left',
    'lung',
    'no',
    'fracture',
    'is',
    'seen',
    'chest',
    'x-ray',
    'normal',
    'heart',
    'size',
    "it's",
    "they're",
    'opacity',
    'café',
    'naïve',
    'größe',
    'μm',
    'mass',
    'right',
  ];
  // Made-up words from syllables keep fresh pairs coming long after the fixed words are merged whole.
  const syl = ['ka', 'ro', 'mi', 'te', 'su', 'lan', 'dor', 'vi', 'ne', 'po', 'zu', 'ith'];
  const made = Array.from({ length: 60 }, () => Array.from({ length: 2 + r.int(3) }, () => syl[r.int(syl.length)]).join(''));
  const docs: string[] = [];
  for (let s = 0; s < sentences; s++) {
    const n = 4 + r.int(8);
    const ws: string[] = [];
    for (let i = 0; i < n; i++) ws.push(r.next() < 0.5 ? words[r.int(words.length)] : made[r.int(made.length)]);
    if (r.next() < 0.3) ws.push(String(r.int(1000)));
    let t = ws.join(' ');
    t = t[0].toUpperCase() + t.slice(1) + (r.next() < 0.8 ? '.' : '?');
    if (r.next() < 0.2) t = `<|im_start|>user\n${t}<|im_end|>`;
    docs.push(t + (r.next() < 0.3 ? '\n\n' : ' '));
  }
  return docs;
}

const asFolder = (name: string, tokenizerJson: unknown, tokenizerConfig?: unknown, extra: Record<string, unknown> = {}) => {
  const files: Record<string, string> = { 'tokenizer.json': JSON.stringify(tokenizerJson) };
  if (tokenizerConfig !== undefined) files['tokenizer_config.json'] = JSON.stringify(tokenizerConfig);
  for (const [k, v] of Object.entries(extra)) files[k] = JSON.stringify(v);
  return new MemoryWorkspace(name, files);
};

/** Textbook BPE training (recount every pair each round), for checking the incremental trainer. */
function naiveMerges(docs: string[], nMerges: number, specials: string[], minFreq = 2): [string, string][] {
  const b2u = byteToUnicode();
  const re = new RegExp(specials.map((s) => s.replace(/[|[\]\\/<>]/g, '\\$&')).join('|'), 'g');
  const counts = new Map<string, number>();
  for (const d of docs) for (const part of d.split(re)) for (const p of byteLevelPreTokenize(part)) counts.set(p, (counts.get(p) ?? 0) + 1);
  const ids = new Map<string, number>(b2u.map((c, i) => [c, i]));
  const syms = [...b2u];
  const words = [...counts].map(([p, c]) => ({ w: [...p].map((ch) => ids.get(ch)!), c }));
  const merges: [string, string][] = [];
  while (syms.length < 256 + nMerges) {
    const pc = new Map<string, number>();
    for (const { w, c } of words) for (let i = 0; i + 1 < w.length; i++) pc.set(`${w[i]},${w[i + 1]}`, (pc.get(`${w[i]},${w[i + 1]}`) ?? 0) + c);
    let best: [number, number] | null = null,
      bc = 0;
    for (const [k, c] of pc) {
      const [a, b] = k.split(',').map(Number);
      if (c > bc || (c === bc && best && (a < best[0] || (a === best[0] && b < best[1])))) {
        best = [a, b];
        bc = c;
      }
    }
    if (!best || bc < minFreq) break;
    const s = syms[best[0]] + syms[best[1]];
    let id = ids.get(s);
    if (id === undefined) {
      id = syms.length;
      syms.push(s);
      ids.set(s, id);
    }
    merges.push([syms[best[0]], syms[best[1]]]);
    for (const x of words) {
      const nw: number[] = [];
      for (let i = 0; i < x.w.length; ) {
        if (i + 1 < x.w.length && x.w[i] === best[0] && x.w[i + 1] === best[1]) {
          nw.push(id);
          i += 2;
        } else nw.push(x.w[i++]);
      }
      x.w = nw;
    }
  }
  return merges;
}

/** Reference BPE encoder: per pre-token, merge the lowest-ranked adjacent pair until none applies. */
function referenceEncode(text: string, merges: [string, string][], vocab: Record<string, number>): number[] {
  const rank = new Map(merges.map(([a, b], i) => [`${a} ${b}`, i]));
  const out: number[] = [];
  for (const piece of byteLevelPreTokenize(text)) {
    let parts = [...piece];
    for (;;) {
      let bi = -1,
        br = Infinity;
      for (let i = 0; i + 1 < parts.length; i++) {
        const r = rank.get(`${parts[i]} ${parts[i + 1]}`);
        if (r !== undefined && r < br) {
          br = r;
          bi = i;
        }
      }
      if (bi < 0) break;
      parts = [...parts.slice(0, bi), parts[bi] + parts[bi + 1], ...parts.slice(bi + 2)];
    }
    for (const p of parts) out.push(vocab[p]);
  }
  return out;
}

const VARIED = [
  'The patient shows a lesion in the left lung.',
  'Zebra quokka 12345 67.89 — ünïcödé ÆØÅ 😀🫁 中文字符 العربية',
  '  leading and trailing spaces   ',
  'tabs\tand\nnewlines\n\n\r\n  indented',
  "it's they're we'll I'd you've she'm",
  '<|im_start|>user\nWhat is seen?<|im_end|>\n<|im_start|>assistant\n<think>opacity</think><answer>pneumonia</answer><|im_end|>',
  'a<image><image>b',
  'x',
  '',
  ' ',
  '\u0000\u0001 control \u007f',
  'combining e\u0301 vs é',
];

describe('byte-level BPE trainer', () => {
  const docs = corpus(1, 160);
  const t0 = performance.now();
  const trained = trainByteLevelBpe(docs, { vocabSize: 420, specialTokens: SPECIALS, eosToken: '<|im_end|>', padToken: '<|endoftext|>' });
  const trainMs = performance.now() - t0;

  it('trains on a few KB up to the requested vocabulary', () => {
    const bytes = new TextEncoder().encode(docs.join('')).length;
    expect(bytes).toBeGreaterThan(4000);
    expect(bytes).toBeLessThan(20000);
    expect(trained.vocabSize).toBe(420);
    expect(trained.merges.length).toBeGreaterThanOrEqual(420 - 256 - SPECIALS.length);
    const model = trained.tokenizerJson.model as { vocab: Record<string, number>; merges: string[] };
    const ids = Object.values(model.vocab).sort((a, b) => a - b);
    expect(ids).toEqual(Array.from({ length: 420 }, (_, i) => i));
    expect(trainMs).toBeGreaterThan(0);
  });

  it('learns exactly the merges of a textbook (recount-everything) trainer', () => {
    const want = naiveMerges(docs, 420 - 256 - SPECIALS.length, SPECIALS);
    expect(trained.merges).toEqual(want);
  });

  it('matches the textbook trainer with minFrequency 1 too (single-occurrence pairs get merged)', () => {
    const small = corpus(5, 12);
    const t = trainByteLevelBpe(small, { vocabSize: 700, specialTokens: ['<|im_start|>', '<|im_end|>'], minFrequency: 1 });
    const want = naiveMerges(small, 700 - 256 - 2, ['<|im_start|>', '<|im_end|>'], 1);
    expect(t.merges).toEqual(want);
    expect(t.merges.length).toBeGreaterThan(trainByteLevelBpe(small, { vocabSize: 700, specialTokens: ['<|im_start|>', '<|im_end|>'] }).merges.length);
  });

  it('uses the same pre-tokenization as the library ByteLevel pre-tokenizer', () => {
    const lib = new ByteLevelPreTokenizer({ type: 'ByteLevel', add_prefix_space: false, use_regex: true });
    for (const t of VARIED) expect(byteLevelPreTokenize(t), JSON.stringify(t)).toEqual(lib.pre_tokenize_text(t));
  });

  it('maps all 256 bytes to distinct printable characters', () => {
    const m = byteToUnicode();
    expect(new Set(m).size).toBe(256);
    expect(m[0x41]).toBe('A');
    expect(m[0x20]).toBe('Ġ');
    expect(m[0x0a]).toBe('Ċ');
    for (const c of m) expect(/\s/.test(c)).toBe(false);
  });

  it('produces a tokenizer.json that @huggingface/tokenizers loads, round-trips text and encodes like a reference BPE', async () => {
    const tok = await loadTokenizer(asFolder('trained', trained.tokenizerJson, trained.tokenizerConfig));
    expect(tok.vocabSize).toBe(420);
    const model = trained.tokenizerJson.model as { vocab: Record<string, number> };
    for (const t of VARIED) {
      const ids = tok.encode(t);
      expect(tok.decode(ids), JSON.stringify(t)).toBe(t);
      expect(ids.every((i) => Number.isInteger(i) && i >= 0 && i < 420)).toBe(true);
    }
    const plain = 'The patient shows a lesion in the left lung. Größe 12 μm, no fracture is seen?';
    expect(tok.encode(plain)).toEqual(referenceEncode(plain, trained.merges, model.vocab));
    const unseen = corpus(99, 30)
      .join('')
      .replace(/<\|im_(start|end)\|>/g, '');
    expect(tok.decode(tok.encode(unseen))).toBe(unseen);
  });

  it('encodes each special token to one id, in isolation and inside text, and can skip them when decoding', async () => {
    const tok = await loadTokenizer(asFolder('trained', trained.tokenizerJson, trained.tokenizerConfig));
    SPECIALS.forEach((s, i) => {
      expect(tok.encode(s)).toEqual([420 - SPECIALS.length + i]);
      expect(tok.tokenToId(s)).toBe(420 - SPECIALS.length + i);
      expect(tok.specialTokens.get(s)).toBe(420 - SPECIALS.length + i);
    });
    const ids = tok.encode('abc<think>xyz</think>');
    expect(ids.filter((i) => i === tok.tokenToId('<think>')).length).toBe(1);
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('abcxyz');
    expect(tok.eosIds).toEqual([tok.tokenToId('<|im_end|>')]);
    expect(tok.padId).toBe(tok.tokenToId('<|endoftext|>'));
    expect(tok.bosId).toBeUndefined();
  });

  it('compresses: far fewer tokens than bytes on text like the corpus', async () => {
    const tok = await loadTokenizer(asFolder('trained', trained.tokenizerJson, trained.tokenizerConfig));
    const sample = corpus(7, 40).join('');
    const nBytes = new TextEncoder().encode(sample).length;
    const nTok = tok.encode(sample).length;
    expect(nTok).toBeLessThan(0.45 * nBytes);
  });

  it('treats a single string as one document (not as characters), and trainBpe gives the same tokenizer.json', () => {
    const text = docs.join('');
    const one = trainByteLevelBpe(text, { vocabSize: 330, specialTokens: [...LAB_SPECIAL_TOKENS] });
    expect(one.merges.length).toBe(330 - 256 - LAB_SPECIAL_TOKENS.length);
    expect(trainBpe(text, { vocabSize: 330, specialTokens: [...LAB_SPECIAL_TOKENS] })).toEqual(one.tokenizerJson);
    expect(LAB_SPECIAL_TOKENS).toEqual(SPECIALS);
  });

  it('stops early when no pair repeats, and rejects bad options', () => {
    const tiny = trainByteLevelBpe(['abcd'], { vocabSize: 1000 });
    expect(tiny.vocabSize).toBe(256);
    expect(tiny.merges).toEqual([]);
    expect(() => trainByteLevelBpe(docs, { vocabSize: 260, specialTokens: SPECIALS })).toThrow(/vocabSize 260 must be an integer from 264/);
    expect(() => trainByteLevelBpe(docs, { vocabSize: 300, specialTokens: ['<a>', '<a>'] })).toThrow(InputError);
    expect(() => trainByteLevelBpe(docs, { vocabSize: 300, specialTokens: ['<a>'], eosToken: '</s>' })).toThrow(
      /eosToken "<\/s>" is not one of the special tokens/,
    );
  });
});

describe('tokenizer wrapper', () => {
  const trained = trainByteLevelBpe(corpus(3, 60), { vocabSize: 300, specialTokens: ['<s>', '</s>', '<|eot|>'] });

  it('names the folder when tokenizer.json is missing, and the file when it is broken', async () => {
    let err: unknown;
    try {
      await loadTokenizer(new MemoryWorkspace('models/tiny', { 'config.json': '{}' }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).where).toBe('models/tiny');
    expect((err as Error).message).toBe('models/tiny: no tokenizer.json in this folder');

    const cases: [MemoryWorkspace, string, RegExp][] = [
      [new MemoryWorkspace('f', { 'tokenizer.json': '{"model": ' }), 'f/tokenizer.json', /not valid JSON/],
      [asFolder('f', { version: '1.0' }), 'f/tokenizer.json', /no "model" object/],
      [asFolder('f', { ...trained.tokenizerJson, added_tokens: [{ content: 'x' }] }), 'f/tokenizer.json', /added_tokens must be a list/],
      [asFolder('f', { ...trained.tokenizerJson, model: { type: 'BPE' } }), 'f/tokenizer.json', /could not build the tokenizer/],
      [asFolder('f', trained.tokenizerJson, { eos_token: '<eos>' }), 'f/tokenizer_config.json', /eos_token "<eos>" is not in the vocabulary/],
      [
        asFolder('f', trained.tokenizerJson, {}, { 'generation_config.json': { eos_token_id: 'x' } }),
        'f/generation_config.json',
        /eos_token_id must be token ids/,
      ],
    ];
    for (const [src, where, msg] of cases) {
      let e: unknown;
      try {
        await loadTokenizer(src);
      } catch (x) {
        e = x;
      }
      expect(e, where).toBeInstanceOf(InputError);
      expect((e as InputError).where).toBe(where);
      expect((e as Error).message).toMatch(msg);
    }
  });

  it('refuses model types the library would silently treat as something else, and token ids no embedding could have', async () => {
    const tj = trained.tokenizerJson as { model: { vocab: Record<string, number> } } & Record<string, unknown>;
    const firstToken = Object.keys(tj.model.vocab)[0];
    const cases: [unknown, RegExp][] = [
      [{ ...tj, model: { ...tj.model, type: 'Nope' } }, /model\.type "Nope" is not supported \(BPE, WordPiece, Unigram\)/],
      [{ ...tj, model: { ...tj.model, type: 5 } }, /model\.type 5 is not supported/],
      [
        { ...tj, model: { ...tj.model, vocab: { ...tj.model.vocab, [firstToken]: 1e12 } } },
        new RegExp(`model\\.vocab "${firstToken.replace(/[^\w]/g, '.')}" has id 1000000000000: ids must be integers from 0 to 4194303`),
      ],
      [{ ...tj, model: { ...tj.model, vocab: { ...tj.model.vocab, [firstToken]: -1 } } }, /has id -1/],
      [{ ...tj, model: { ...tj.model, vocab: { ...tj.model.vocab, [firstToken]: 2.5 } } }, /has id 2\.5/],
      [{ ...tj, model: { ...tj.model, vocab: [1, 2] } }, /model\.vocab must be an object of token -> id/],
      [{ ...tj, added_tokens: [{ id: 1e12, content: '<x>', special: true }] }, /added_tokens: "<x>" has id 1000000000000/],
      [{ ...tj, model: { type: 'Unigram', vocab: [['a', 'x']] } }, /model\.vocab must be a list of \[piece, score\] pairs/],
    ];
    for (const [json, msg] of cases) {
      let e: unknown;
      try {
        await loadTokenizer(asFolder('f', json));
      } catch (x) {
        e = x;
      }
      expect(e, String(msg)).toBeInstanceOf(InputError);
      expect((e as InputError).where).toBe('f/tokenizer.json');
      expect((e as Error).message).toMatch(msg);
    }
    // Text the vocabulary cannot cover (no unk token) is an error naming the text, not a list of undefined ids.
    const wp = tokenizerFromJson(
      { model: { type: 'WordPiece', vocab: { a: 0 }, unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100 } },
      {},
      'wp',
    );
    let e: unknown;
    try {
      wp.encode('ab');
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(InputError);
    expect((e as Error).message).toMatch(/wp\/tokenizer\.json: cannot encode "ab"/);
  });

  it('collects eos ids from tokenizer_config (string or AddedToken form) and generation_config', async () => {
    const tok = await loadTokenizer(
      asFolder(
        'f',
        trained.tokenizerJson,
        { eos_token: { content: '</s>', special: true }, bos_token: '<s>' },
        { 'generation_config.json': { eos_token_id: [298, 299] } },
      ),
    );
    expect(tok.eosIds).toEqual([298, 299]);
    expect(tok.bosId).toBe(297);
  });

  it('applies a template post-processor only when special tokens are requested', () => {
    const withBos = {
      ...trained.tokenizerJson,
      post_processor: {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
        pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
        special_tokens: { '<s>': { id: '<s>', ids: [297], tokens: ['<s>'] } },
      },
    };
    const tok = tokenizerFromJson(withBos, {}, 'f');
    const plain = tok.encode('the lung', { addSpecialTokens: false });
    expect(tok.encode('the lung')).toEqual([297, ...plain]);
    expect(tok.decode(tok.encode('the lung'), { skipSpecialTokens: true })).toBe('the lung');
  });

  it('decodes nothing to "" and skips ids past the vocabulary (a padded embedding)', () => {
    const tok = tokenizerFromJson(trained.tokenizerJson, {}, 'f');
    expect(tok.decode([])).toBe('');
    const ids = tok.encode('no fracture');
    expect(tok.decode([...ids, 300, 5000])).toBe('no fracture');
    expect(tok.idToToken(ids[0])).toBeTypeOf('string');
  });

  it('keeps " ." spacing unless tokenizer_config asks for the legacy clean-up', () => {
    const t = 'one . two ?';
    expect(tokenizerFromJson(trained.tokenizerJson, {}, 'f').decode(tokenizerFromJson(trained.tokenizerJson, {}, 'f').encode(t))).toBe(t);
    const legacy = tokenizerFromJson(trained.tokenizerJson, { clean_up_tokenization_spaces: true }, 'f');
    expect(legacy.decode(legacy.encode(t))).toBe('one. two?');
  });
});
