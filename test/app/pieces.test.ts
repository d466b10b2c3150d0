// Byte-level BPE pieces of a multi-byte character, as the rollout log keeps them (each token
// decoded on its own), merged back for display. The reference is the tokenizer itself: decoding
// exactly the tokens of a merged piece must give the piece's text.
import { describe, expect, it } from 'vitest';
import { trainByteLevelBpe } from '../../src/io/bpe-trainer';
import { tokenizerFromJson, type TextTokenizer } from '../../src/io/tokenizer';
import { displayPieces, tokenViews } from '../../src/app/lib/tokens';
import type { ResponseRecord } from '../../src/recipe/grpo';

function tokenizer(): TextTokenizer {
  const corpus = ['<think>The dose is 5 mg/kg, so 80 kg needs 400 mg.</think><answer>A</answer>', 'temperature 36.9 C, pulse 80'];
  const t = trainByteLevelBpe(corpus, { vocabSize: 300, specialTokens: ['<|im_end|>'], eosToken: '<|im_end|>' });
  return tokenizerFromJson(t.tokenizerJson, t.tokenizerConfig, 'test tokenizer');
}

/** What src/recipe/grpo.ts records for a response: its text (end-of-turn left out) and each token decoded alone. */
function record(tok: TextTokenizer, ids: number[], finished = false): { text: string; tokens: string[] } {
  const body = finished ? ids.slice(0, -1) : ids;
  return { text: tok.decode(body), tokens: ids.map((id) => tok.decode([id])) };
}

function checkAgainstTokenizer(tok: TextTokenizer, ids: number[], finished = false) {
  const { text, tokens } = record(tok, ids, finished);
  const pieces = displayPieces(tokens, text);
  // The pieces cover every token once, in order.
  expect(pieces.flatMap((p) => [p.from, p.to])).toEqual(pieces.flatMap((p, i) => [i === 0 ? 0 : pieces[i - 1].to, p.to]));
  expect(pieces[pieces.length - 1].to).toBe(ids.length);
  for (const p of pieces) expect(p.text).toBe(tok.decode(ids.slice(p.from, p.to)));
  return { text, tokens, pieces };
}

describe('pieces for display', () => {
  const tok = tokenizer();
  const eos = tok.eosIds[0];

  it('merge the tokens of a character split across bytes', () => {
    const ids = tok.encode('dose 5 µg → 80 °C é', { addSpecialTokens: false });
    const { text, tokens, pieces } = checkAgainstTokenizer(tok, ids);
    expect(tokens.join('')).toContain('\uFFFD');
    expect(pieces.map((p) => p.text).join('')).toBe(text);
    expect(pieces.some((p) => p.text.includes('\uFFFD'))).toBe(false);
    for (const ch of ['µ', '→', '°', 'é']) {
      const p = pieces.find((x) => x.text.includes(ch))!;
      expect(p.to - p.from, ch).toBe(new TextEncoder().encode(ch).length);
    }
    // Pure ASCII stretches stay one piece per token.
    expect(pieces.filter((p) => p.to - p.from === 1).length).toBeGreaterThan(3);
  });

  it('keep the end-of-turn token that the text leaves out', () => {
    const ids = [...tok.encode('<think>é</think>', { addSpecialTokens: false }), eos];
    const { pieces } = checkAgainstTokenizer(tok, ids, true);
    expect(pieces[pieces.length - 1]).toEqual({ text: '<|im_end|>', from: ids.length - 1, to: ids.length });
  });

  it('keep bytes that are not UTF-8 at all as the replacement character, and match the tokenizer on random byte soup', () => {
    // An untrained model samples byte tokens at random: lone continuation bytes, cut sequences.
    const byteIds = Array.from({ length: 256 }, (_, b) => tok.encode(String.fromCharCode(b), { addSpecialTokens: false }));
    expect(byteIds.slice(0, 128).every((x) => x.length === 1)).toBe(true);
    let seed = 7;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const vocab = tok.vocabSize;
    let merged = 0;
    for (let trial = 0; trial < 300; trial++) {
      const ids = Array.from({ length: 1 + rand(24) }, () => rand(vocab - 1));
      const { pieces } = checkAgainstTokenizer(tok, ids);
      merged += pieces.filter((p) => p.to - p.from > 1).length;
    }
    expect(merged).toBeGreaterThan(10);
  });

  it('show tokens as they are when they do not align with the text', () => {
    expect(displayPieces(['a', '\uFFFD', 'b'], 'xyz')).toEqual([
      { text: 'a', from: 0, to: 1 },
      { text: '\uFFFD', from: 1, to: 2 },
      { text: 'b', from: 2, to: 3 },
    ]);
  });

  it('give a merged piece the mean ratio and the strongest clip flag of its tokens', () => {
    const ids = tok.encode('a→b', { addSpecialTokens: false });
    const { text, tokens } = record(tok, ids);
    const n = tokens.length;
    const ratios = tokens.map((_, i) => (i === 1 ? 1.6 : 1));
    const r: ResponseRecord = { text, tokens, reward: 1, correct: true, format: true, advantage: 1, finished: false, ratios };
    const views = tokenViews(r, { clipLow: 0.2, clipHigh: 0.2, clipC: 0 });
    const arrow = views.find((v) => v.text === '→')!;
    expect(arrow.to - arrow.from).toBe(3);
    expect(arrow.ratio).toBeCloseTo((1.6 + 1 + 1) / 3, 12);
    expect(arrow.clip).toBe(1);
    expect(views.map((v) => v.text).join('')).toBe('a→b');
    expect(views[views.length - 1].to).toBe(n);
  });
});
