// SFT examples to micro-batches: next-token targets exactly on the answer, right padding that
// changes nothing, images in placeholder order, and the length limit's drop/truncate report.
import { describe, it, expect, beforeAll } from 'vitest';
import { PNG } from 'pngjs';
import type { QAItem } from '../../src/task/schema';
import { LAB_SPECIAL_TOKENS, trainByteLevelBpe } from '../../src/io/bpe-trainer';
import { tokenizerFromJson, type TextTokenizer } from '../../src/io/tokenizer';
import { patchDim, patchesPerImage, type ModelConfig } from '../../src/model/config';
import { IGNORE } from '../../src/model/batch';
import { Model, initWeights } from '../../src/model/model';
import { Trainer } from '../../src/model/trainer';
import { encodeSftExample, type EncodedExample } from '../../src/task/encode';
import { promptText, sftTarget } from '../../src/task/prompt';
import { CHAT, chatPrompt } from '../../src/io/chat';
import { collate, countTargets, fitExamples, microBatches, packSharedPrompts, type BatchingOptions } from '../../src/recipe/batching';
import { InputError } from '../../src/engine/errors';
import { prepareSftData } from '../../src/recipe/sft';
import { SFT_DEFAULTS, sftConfigFrom } from '../../src/recipe/sft-config';
import { testGpu } from '../helpers/gpu';

function grayPng(value: number, size = 16): Uint8Array {
  const png = new PNG({ width: size, height: size });
  for (let i = 0; i < size * size; i++) png.data.set([value, value, value, 255], i * 4);
  return new Uint8Array(PNG.sync.write(png));
}

function item(i: number, nImages = 0, reasoning = `step ${i}: the value ${i * 7} is above ${i * 3}, so the answer follows`): QAItem {
  const options = { A: `dose ${i} mg`, B: `dose ${i + 1} mg`, C: `dose ${i + 2} mg` };
  const label = 'ABC'[i % 3];
  return {
    images: Array.from({ length: nImages }, (_, k) => ({ name: `img${i}-${k}.png`, load: async () => grayPng(20 * i + 60 * k + 10) })),
    question: `A patient of ${40 + i} kg needs ${i + 1} mg/kg. What is the ${'total '.repeat(i % 3)}dose?`,
    options,
    answer_label: label,
    answer: options[label as 'A'],
    reasoning,
    dataset_name: 'hand',
    dataset_index: i,
    hash: `h${i}`,
  };
}

const items = Array.from({ length: 8 }, (_, i) => item(i));
let tok: TextTokenizer;
let textCfg: ModelConfig;
let visionCfg: ModelConfig;

beforeAll(() => {
  const corpus = items.map((it) => chatPrompt(promptText(it), 0, 0) + sftTarget(it) + CHAT.end);
  const bpe = trainByteLevelBpe(corpus, { vocabSize: 360, specialTokens: [...LAB_SPECIAL_TOKENS], eosToken: CHAT.end });
  tok = tokenizerFromJson(bpe.tokenizerJson, bpe.tokenizerConfig, 'test tokenizer');
  const text = {
    architecture: 'llama' as const,
    vocabSize: tok.vocabSize,
    hiddenSize: 32,
    intermediateSize: 64,
    numLayers: 1,
    numHeads: 2,
    numKvHeads: 1,
    headDim: 16,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    maxPositionEmbeddings: 512,
    tieWordEmbeddings: true,
    qkvBias: false,
    oBias: false,
    mlpBias: false,
  };
  textCfg = { text };
  visionCfg = {
    text,
    imageTokenId: tok.tokenToId(CHAT.image)!,
    vision: { imageSize: 16, patchSize: 8, channels: 1, hiddenSize: 16, intermediateSize: 32, numLayers: 1, numHeads: 2, rmsNormEps: 1e-5 },
  };
});

const opts = (o: Partial<BatchingOptions> = {}): BatchingOptions => ({
  maxLength: 400,
  overflow: 'drop',
  pad: 'longest',
  padMultiple: 8,
  padId: tok.tokenToId('<|endoftext|>')!,
  ...o,
});

describe('collate', () => {
  it('targets are the next token exactly on the answer and its end of turn, nowhere else', async () => {
    const exs = await Promise.all(items.slice(0, 3).map((it) => encodeSftExample(it, tok, textCfg)));
    const b = collate(exs, opts());
    const longest = Math.max(...exs.map((e) => e.ids.length));
    expect(b.B).toBe(3);
    expect(b.T).toBe(Math.ceil(longest / 8) * 8);
    exs.forEach((e, r) => {
      const row = Array.from(b.targets!.subarray(r * b.T, (r + 1) * b.T));
      const targetIds = row.filter((t) => t !== IGNORE);
      // Decoding what the model is trained to predict gives back exactly the assistant turn.
      expect(tok.decode(targetIds, { skipSpecialTokens: false })).toBe(sftTarget(items[r]) + CHAT.end);
      // The first position carrying loss predicts <think> from the assistant header's last token.
      const promptLen = tok.encode(chatPrompt(promptText(items[r]), 0, 0), { addSpecialTokens: false }).length;
      expect(row.findIndex((t) => t !== IGNORE)).toBe(promptLen - 1);
      expect(row[promptLen - 1]).toBe(tok.tokenToId('<think>'));
      expect(row[e.ids.length - 2]).toBe(tok.tokenToId(CHAT.end));
      // Padding: pad ids after the example, and no loss at the last real token or beyond.
      for (let t = e.ids.length - 1; t < b.T; t++) expect(row[t]).toBe(IGNORE);
      for (let t = e.ids.length; t < b.T; t++) expect(b.ids[r * b.T + t]).toBe(opts().padId);
      expect(Array.from(b.ids.subarray(r * b.T, r * b.T + e.ids.length))).toEqual(e.ids);
    });
    expect(countTargets(b)).toBe(exs.reduce((a, e) => a + e.lossMask.reduce((x, y) => x + y, 0), 0));
  });

  it('pad "max" gives one shape; micro-batches split the step in order', async () => {
    const exs = await Promise.all(items.slice(0, 5).map((it) => encodeSftExample(it, tok, textCfg)));
    const mbs = microBatches(exs, 2, opts({ pad: 'max', maxLength: 200 }));
    expect(mbs.map((b) => b.B)).toEqual([2, 2, 1]);
    expect(mbs.every((b) => b.T === 200)).toBe(true);
    expect(Array.from(mbs[2].ids.subarray(0, exs[4].ids.length))).toEqual(exs[4].ids);
    expect(() => collate(exs, opts({ maxLength: 10 }))).toThrow(InputError);
    expect(() => collate([], opts())).toThrow(InputError);
  });

  it('images are concatenated in the order the engine finds their placeholders', async () => {
    // Items with 2, 0 and 1 images, each image a different flat gray level.
    const its = [item(1, 2), item(2, 0), item(3, 1)];
    const exs = await Promise.all(its.map((it) => encodeSftExample(it, tok, visionCfg)));
    const b = collate(exs, opts());
    const v = visionCfg.vision!;
    const P = patchesPerImage(v),
      D = patchDim(v);
    expect(b.nImages).toBe(3);
    expect(b.patches!.length).toBe(3 * P * D);
    // Placeholder runs, scanned as uploadBatch scans them: the row each run is in.
    const img = visionCfg.imageTokenId!;
    const rows: number[] = [];
    let k = 0;
    for (let i = 0; i < b.ids.length; i++) {
      if (b.ids[i] !== img) continue;
      if (k % P === 0) rows.push(Math.floor(i / b.T));
      k++;
    }
    expect(k).toBe(3 * P);
    expect(rows).toEqual([0, 0, 2]);
    // Image k's patches hold its gray level: 30 and 90 (item 1's two images), then 70 (item 3's).
    const levels = [30, 90, 70];
    levels.forEach((g, k) => {
      const block = b.patches!.subarray(k * P * D, (k + 1) * P * D);
      for (const x of block) expect(x).toBeCloseTo((g / 255) * 2 - 1, 5);
    });
    // No loss on placeholders: they are in the prompt.
    for (let i = 0; i < b.ids.length; i++) if (b.ids[i] === img) expect(b.targets![i]).toBe(IGNORE);
  });
});

describe('packSharedPrompts', () => {
  it('lays out one prompt, then each response after a copy of its last token, continuing its positions and hiding the responses before it', () => {
    const IMG = 9;
    const patches = Float32Array.from([0.5, 0.25]);
    const { batch, starts } = packSharedPrompts(
      [
        { prompt: [1, IMG, 2, 3], patches, nImages: 1, responses: [[40, 41], [50], [60, 61, 62]] },
        { prompt: [7, 8], patches: new Float32Array(0), nImages: 0, responses: [[70]] },
      ],
      { padMultiple: 4, padId: 0, imageTokenId: IMG },
    );
    // Row 0: 1 IMG 2 | 3 40 41 | 3 50 | 3 60 61 62 (12 tokens); row 1: 7 | 8 70, padded to 12.
    expect([batch.B, batch.T]).toEqual([2, 12]);
    expect(Array.from(batch.ids)).toEqual([1, IMG, 2, 3, 40, 41, 3, 50, 3, 60, 61, 62, 7, 8, 70, ...new Array(9).fill(0)]);
    expect(starts).toEqual([[3, 6, 8], [13]]);
    const row0 = (a: ArrayLike<number>) => Array.from(a).slice(0, 12);
    expect(row0(batch.positions!)).toEqual([0, 1, 2, 3, 4, 5, 3, 4, 3, 4, 5, 6]);
    // Each position predicts its response's next token; the copies' tokens and the last token of each response predict nothing.
    const I = IGNORE;
    expect(row0(batch.targets!)).toEqual([I, I, I, 40, 41, I, 50, I, 60, 61, 62, I]);
    expect(Array.from(batch.targets!).slice(12, 15)).toEqual([I, 70, I]);
    // Gaps [gLo, gHi): the prompt sees everything before it; response k hides [3, its start).
    const gaps = Array.from({ length: 12 }, (_, n) => [batch.gaps![2 * n], batch.gaps![2 * n + 1]].join('-'));
    expect(gaps).toEqual(['0-0', '0-0', '0-0', '3-3', '3-3', '3-3', '3-6', '3-6', '3-8', '3-8', '3-8', '3-8']);
    expect([batch.nImages, Array.from(batch.imagePositions!), Array.from(batch.patches!)]).toEqual([1, [1], [0.5, 0.25]]);
    expect(() => packSharedPrompts([{ prompt: [5], patches: new Float32Array(0), nImages: 0, responses: [[1]] }], { padMultiple: 1, padId: 0 })).toThrow(
      /a shared prompt needs at least 2 tokens, not 1/,
    );
  });
});

describe('fitExamples', () => {
  it('drops or truncates over-long examples and reports each', async () => {
    const exs = await Promise.all(items.slice(0, 4).map((it) => encodeSftExample(it, tok, textCfg)));
    const lens = exs.map((e) => e.ids.length);
    const promptLens = exs.map((e) => e.lossMask.indexOf(1));
    // A limit between the shortest and longest full length, above every prompt.
    const limit = Math.max(...promptLens) + 3;
    const over = lens.map((l, i) => (l > limit ? i : -1)).filter((i) => i >= 0);
    expect(over.length).toBeGreaterThan(0);

    const dropped = fitExamples(exs, { maxLength: limit, overflow: 'drop' });
    expect(dropped.report.dropped.map((d) => d.index)).toEqual(over);
    expect(dropped.examples.length).toBe(4 - over.length);

    const cut = fitExamples(exs, { maxLength: limit, overflow: 'truncate' });
    expect(cut.report.truncated.map((d) => d.index)).toEqual(over);
    expect(cut.examples.every((e) => e.ids.length <= limit && e.lossMask.length === e.ids.length)).toBe(true);
    const b = collate(cut.examples, opts({ maxLength: limit }));
    expect(countTargets(b)).toBeGreaterThan(0);

    // Cutting inside the prompt leaves no answer token: dropped, with the reason.
    const none = fitExamples(exs, { maxLength: Math.min(...promptLens) - 1, overflow: 'truncate' });
    expect(none.examples).toHaveLength(0);
    expect(none.report.dropped[0].reason).toMatch(/no answer token/);
  });

  it('refuses to cut through an image', async () => {
    const ex: EncodedExample = await encodeSftExample(item(1, 2), tok, visionCfg);
    const firstImage = ex.ids.indexOf(visionCfg.imageTokenId!);
    const r = fitExamples([ex], { maxLength: firstImage + 3, overflow: 'truncate', imageTokenId: visionCfg.imageTokenId });
    expect(r.examples).toHaveLength(0);
  });
});

describe('batches on the GPU', () => {
  it("right padding leaves every example's loss unchanged, with and without images", async () => {
    const gpu = await testGpu();
    const its = [item(1, 1), item(4, 1), item(6, 1)];
    const exs = await Promise.all(its.map((it) => encodeSftExample(it, tok, visionCfg)));
    const model = new Model(gpu, visionCfg);
    model.loadWeights(initWeights(visionCfg, 3));
    const trainer = new Trainer(model);
    try {
      const o = opts({ padMultiple: 1 });
      let nll = 0,
        n = 0;
      for (const e of exs) {
        const b = collate([e], o);
        const c = countTargets(b);
        nll += (await trainer.evalLoss(b)) * c;
        n += c;
      }
      const together = await trainer.evalLoss(collate(exs, opts({ pad: 'max', maxLength: 300 })));
      expect(together).toBeCloseTo(nll / n, 4);
      expect(together).toBeGreaterThan(Math.log(tok.vocabSize) * 0.8);
    } finally {
      trainer.release();
      model.release();
    }
  });
});

describe('image placeholders in responses', () => {
  it('only the prompt\'s placeholders take images: a response holding <image> still uploads (it failed with "65 <image> placeholder tokens for 4 images" before)', async () => {
    const gpu = await testGpu();
    const ex = await encodeSftExample(item(1, 1), tok, visionCfg);
    const img = visionCfg.imageTokenId!;
    // A sampled response that holds the placeholder, as an unmasked sampler could emit.
    const withImage: EncodedExample = { ...ex, ids: [...ex.ids, img, img], lossMask: Uint8Array.from([...ex.lossMask, 1, 1]) };
    const b = collate([withImage, ex], opts({ imageTokenId: img }));
    const P = (visionCfg.vision!.imageSize / visionCfg.vision!.patchSize) ** 2;
    expect(b.imagePositions).toHaveLength(2 * P);
    expect([...b.imagePositions!].every((i) => i < withImage.ids.length - 2 || i >= b.T)).toBe(true);
    const model = new Model(gpu, visionCfg);
    model.loadWeights(initWeights(visionCfg, 3));
    const trainer = new Trainer(model);
    try {
      expect(Number.isFinite(await trainer.evalLoss(b))).toBe(true);
      // Without the positions every <image> in ids is counted, and the batch is refused.
      const counted = { ...b, imagePositions: undefined };
      await expect(trainer.evalLoss(counted)).rejects.toThrow(/placeholder tokens for 2 images/);
    } finally {
      trainer.release();
      model.release();
    }
  });
});

describe('prepareSftData: the letter of the target', () => {
  it('"trace" trains on the letter the reasoning concludes with (unfiltered distillation); "gold" on the answer_label; no conclusion keeps the gold', async () => {
    const wrong = { ...item(1, 0, 'The value is low. So the answer is C.'), answer_label: 'B' };
    const noConclusion = { ...item(2), answer_label: 'C' };
    const cfg = (answer: 'gold' | 'trace') => {
      const c = structuredClone(SFT_DEFAULTS);
      c.data.answer = answer;
      c.maxLength = 400;
      c.eval.items = 0;
      return c;
    };
    const targetText = (e: EncodedExample) => tok.decode(e.ids.filter((_, t) => e.lossMask[t] === 1));
    const gold = await prepareSftData({ train: [wrong, noConclusion], eval: [] }, tok, textCfg, cfg('gold'));
    const trace = await prepareSftData({ train: [wrong, noConclusion], eval: [] }, tok, textCfg, cfg('trace'));
    expect(targetText(gold.train[0])).toContain('<answer> B </answer>');
    expect(targetText(trace.train[0])).toContain('<answer> C </answer>');
    expect(targetText(trace.train[0])).toContain('So the answer is C.');
    expect(targetText(trace.train[1])).toBe(targetText(gold.train[1]));
    expect(targetText(trace.train[1])).toContain('<answer> C </answer>');
    // The items themselves keep their gold label (grading is unchanged).
    expect(trace.trainItems.map((it) => it.answer_label)).toEqual(['B', 'C']);
    expect(() => sftConfigFrom({ data: { answer: 'teacher' } })).toThrow(/data\.answer/);
  });
});
