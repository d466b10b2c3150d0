// GRPO moving a policy the way its reward says: one update's direction on fixed sequences, a short
// seeded run on hand-made items in which the reward mean rises, and one in which a small VLM learns
// from the reward to answer from the pixels.
import { describe, it, expect } from 'vitest';
import { testGpu, rng } from '../helpers/gpu';
import { trainByteLevelBpe, LAB_SPECIAL_TOKENS } from '../../src/io/bpe-trainer';
import { tokenizerFromJson, type TextTokenizer } from '../../src/io/tokenizer';
import { Model, initWeights } from '../../src/model/model';
import { Trainer } from '../../src/model/trainer';
import { imageTokens, type ModelConfig } from '../../src/model/config';
import { seededRandom } from '../../src/util/random';
import { collate } from '../../src/recipe/batching';
import { CHAT } from '../../src/io/chat';
import type { EncodedExample, EncodedPrompt } from '../../src/task/encode';
import { GrpoTrainer, runGrpo, stepItems, splitEven, type GrpoStepResult, type PolicySequence } from '../../src/recipe/grpo';
import { grpoTestOptions } from './grpo-options';
import type { QAItem } from '../../src/task/schema';
import { Activations } from '../../src/model/activations';
import { uploadBatch, IGNORE } from '../../src/model/batch';
import { patchify } from '../../src/model/patches';
import { logprobs, textForward } from '../../src/model/forward';
import { CommandStream } from '../../src/engine/stream';
import { download } from '../../src/engine/tensor';

const textCfg = (vocabSize: number, ctx = 64): ModelConfig => ({
  text: {
    architecture: 'llama',
    vocabSize,
    hiddenSize: 32,
    intermediateSize: 64,
    numLayers: 1,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 8,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    maxPositionEmbeddings: ctx,
    tieWordEmbeddings: true,
    qkvBias: false,
    oBias: false,
    mlpBias: false,
  },
});

const options = grpoTestOptions;

describe('GRPO step pieces', () => {
  it('walks epochs of a seeded shuffle, P prompts a step, the same for a resumed run', () => {
    const seen = [0, 1, 2, 3, 4].flatMap((s) => stepItems(10, 4, 7, s));
    // 20 draws over 10 items: two full epochs, each a permutation.
    expect([...seen.slice(0, 10)].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect([...seen.slice(10, 20)].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(seen.slice(0, 10)).not.toEqual(seen.slice(10, 20));
    expect(stepItems(10, 4, 7, 3)).toEqual(seen.slice(12, 16));
    expect(stepItems(10, 4, 8, 0)).not.toEqual(seen.slice(0, 4));
    expect(splitEven(7, 2)).toEqual([
      [0, 3],
      [3, 7],
    ]);
    expect(splitEven(1, 2)).toEqual([
      [0, 0],
      [0, 1],
    ]);
  });

  it('an update raises the log-probs of positive-advantage responses, lowers the rest, and clipping stops the push', async () => {
    const bpe = trainByteLevelBpe('the left sign points right; answer A or B.\n'.repeat(4), {
      vocabSize: 272,
      specialTokens: [...LAB_SPECIAL_TOKENS],
      eosToken: '<|im_end|>',
    });
    const tok = tokenizerFromJson(bpe.tokenizerJson, bpe.tokenizerConfig, 'test tokenizer');
    const cfg = textCfg(tok.vocabSize);
    const gpu = await testGpu();
    const model = new Model(gpu, cfg);
    model.loadWeights(initWeights(cfg, 2));
    const r = rng(1);
    const seqs: PolicySequence[] = Array.from({ length: 8 }, (_, i) => {
      const ids = Array.from({ length: 14 + (i % 3) }, () => r.int(tok.vocabSize));
      return {
        ex: { ids, lossMask: new Uint8Array(ids.length).fill(1, 5), patches: new Float32Array(0), nImages: 0 },
        promptLen: 5,
        old: new Array(ids.length - 5).fill(0),
        adv: i % 2 ? 1 : -1,
      };
    });
    const g = new GrpoTrainer(
      model,
      null,
      tok,
      options({ loss: { clipLow: 0.2, clipHigh: 0.2, clipC: 3, klCoef: 0, aggregation: 'token-mean' }, microBatch: 3 }),
    );
    // With old = 0 the ratio is p itself: the current log-probs, which become the old policy.
    const first = await g.gradients(seqs);
    const withOld = seqs.map((s, i) => ({ ...s, old: first.seqs[i].ratios.map((x) => Math.log(x)) }));
    const meanLogRatio = (st: { ratios: number[] }) => st.ratios.reduce((a, x) => a + Math.log(x), 0) / st.ratios.length;
    const history: number[][] = [];
    for (let k = 0; k < 6; k++) {
      const res = await g.gradients(withOld);
      history.push(res.seqs.map(meanLogRatio));
      g.trainer.step++;
      g.trainer.applyUpdate(1e-3);
      await g.trainer.stream.sync();
    }
    for (const [i, s] of seqs.entries()) {
      // Before any update the ratio is 1; after three, every sequence has moved its advantage's way.
      expect(Math.abs(history[0][i])).toBeLessThan(1e-5);
      expect(Math.sign(history[3][i])).toBe(s.adv);
    }
    // Positive sequences rise until their tokens pass 1 + clip and stop pulling: the last steps'
    // clip fraction is high and their mean log-ratio stays near log(1.2), far below a free run.
    const last = await g.gradients(withOld);
    const clipped = last.seqs.filter((_, i) => seqs[i].adv > 0).flatMap((s) => s.clip);
    expect(clipped.filter((c) => c === 1).length / clipped.length).toBeGreaterThan(0.5);
    g.release();
    model.release();
  });
});

/**
 * Items whose question names a sign; the reward's gold letter is A for all of them. The SFT
 * warm-up teaches the answer format from a teacher that writes A only 30% of the time and B
 * otherwise, so the start policy knows the format but mostly answers wrong; only the reward can
 * tell it which letter is right.
 */
function signItems(): QAItem[] {
  return ['left', 'right', 'up', 'down', 'near', 'far', 'high', 'low'].map((k, i) => ({
    images: [],
    question: `sign ${k}`,
    options: { A: 'go', B: 'stop' },
    answer_label: 'A',
    answer: 'go',
    reasoning: 'ok',
    dataset_name: 'signs',
    dataset_index: i,
    hash: `sign-${i}`,
  }));
}

/**
 * The chat turn without the recipe's instruction paragraph: that paragraph is some 60 tokens
 * with this tokenizer and would multiply the run's cost on a CPU WebGPU; runGrpo takes the
 * encodings from its caller, and the `thinker grpo` test covers the full recipe prompt.
 */
const shortPrompt = (tok: TextTokenizer, it: QAItem): EncodedPrompt => ({
  ids: tok.encode(`${CHAT.start}user\n${it.question}${CHAT.end}\n${CHAT.start}assistant\n`, { addSpecialTokens: false }),
  patches: new Float32Array(0),
  nImages: 0,
});

/**
 * p(letter | prompt, its pictures, the learned prefix up to the letter) for each prompt: the
 * policy's exact preference, no sampling noise.
 */
async function letterProbs(model: Model, tok: TextTokenizer, prompts: EncodedPrompt[], prefix: string, letters: string[]): Promise<number[]> {
  const pre = tok.encode(prefix, { addSpecialTokens: false });
  const want = letters.map((l) => {
    const ids = tok.encode(l, { addSpecialTokens: false });
    expect(ids).toHaveLength(1);
    return ids[0];
  });
  const rows = prompts.map((p) => [...p.ids, ...pre]);
  const B = rows.length;
  const T = Math.max(...rows.map((r) => r.length));
  const ids = new Uint32Array(B * T).fill(tok.eosIds[0]);
  const targets = new Int32Array(B * T).fill(IGNORE);
  rows.forEach((r, b) => {
    ids.set(r, b * T);
    targets[b * T + r.length - 1] = want[b];
  });
  const nImages = prompts.reduce((a, p) => a + p.nImages, 0);
  const patches = new Float32Array(prompts.reduce((a, p) => a + p.patches.length, 0));
  let at = 0;
  for (const p of prompts) {
    patches.set(p.patches, at);
    at += p.patches.length;
  }
  const acts = new Activations(model.gpu, model.cfg, { B, T, nImages, training: false });
  const s = new CommandStream(model.gpu, 'letter-probs');
  uploadBatch(model, acts, { B, T, ids, targets, patches, nImages });
  textForward(s, model, acts);
  logprobs(s, model, acts);
  await s.sync();
  const lp = await download(model.gpu, acts.get('logp'));
  acts.release();
  s.destroy();
  return rows.map((r, b) => Math.exp(lp[b * T + r.length - 1]));
}

/** Their mean for one letter. */
async function letterProb(model: Model, tok: TextTokenizer, prompts: EncodedPrompt[], prefix: string, letter: string): Promise<number> {
  const ps = await letterProbs(
    model,
    tok,
    prompts,
    prefix,
    prompts.map(() => letter),
  );
  return ps.reduce((a, b) => a + b, 0) / ps.length;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

const SIDE = 16;

/** 16 x 16 noise, bright (values in [0.5, 1)) or dark ([0, 0.5)). */
function picture(random: () => number, bright: boolean): Float32Array {
  return Float32Array.from({ length: SIDE * SIDE }, () => (bright ? 0.5 : 0) + 0.5 * random());
}

describe('GRPO learning', () => {
  it('a seeded run raises the reward mean of a format-trained micro model', async () => {
    const items = signItems();
    const target = (letter: string) => `<think>ok</think><answer>${letter}</answer>${CHAT.end}`;
    const corpus = items.map((it) => `${CHAT.start}user\n${it.question}${CHAT.end}\n${CHAT.start}assistant\n${target('A')}${target('B')}`).join('\n');
    const bpe = trainByteLevelBpe(corpus, { vocabSize: 320, specialTokens: [...LAB_SPECIAL_TOKENS], eosToken: '<|im_end|>' });
    const tok = tokenizerFromJson(bpe.tokenizerJson, bpe.tokenizerConfig, 'test tokenizer');
    const cfg = textCfg(tok.vocabSize);
    const gpu = await testGpu();
    const model = new Model(gpu, cfg);
    model.loadWeights(initWeights(cfg, 3));
    const prompts = items.map((it) => shortPrompt(tok, it));

    // SFT warm-up on the format, with the teacher's letter mostly wrong.
    const sft = new Trainer(model, { lr: 2e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, gradClip: 1 });
    const rand = seededRandom(5);
    for (let s = 0; s < 24; s++) {
      const exs: EncodedExample[] = Array.from({ length: 8 }, () => {
        const p = prompts[Math.floor(rand() * items.length)];
        const t = tok.encode(target(rand() < 0.3 ? 'A' : 'B'), { addSpecialTokens: false });
        return { ids: [...p.ids, ...t], lossMask: new Uint8Array(p.ids.length + t.length).fill(1, p.ids.length), patches: p.patches, nImages: 0 };
      });
      await sft.trainStep([collate(exs, { maxLength: 64, overflow: 'drop', pad: 'longest', padMultiple: 8, padId: tok.eosIds[0] })]);
    }
    sft.release();

    const ref = new Model(gpu, cfg);
    ref.loadWeights(await model.exportWeights());
    // lr 4e-3: the recipe's 1e-6 is for billions of weights; this model has 20k.
    const o = options({ optim: { lr: 4e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, gradClip: 1 } });
    const grpo = new GrpoTrainer(model, ref, tok, o);
    const results: GrpoStepResult[] = [];
    const pA = [await letterProb(model, tok, prompts, '<think>ok</think><answer>', 'A')];
    const run = await runGrpo(grpo, items, prompts, { ...o, steps: 16 }, async (r) => {
      results.push(r);
      pA.push(await letterProb(model, tok, prompts, '<think>ok</think><answer>', 'A'));
    });
    expect(run).toMatchObject({ stepsDone: 16, stopped: false });
    const m = results.map((r) => r.metrics);
    // The format was learned and the rewarded letter is the unlikely one at the start
    // (measured: p(A) 0.24 -> 0.76, reward mean of the first four steps 0.29, of the last four 0.63).
    expect(m[0].format_rate).toBeGreaterThan(0.6);
    expect(pA[0]).toBeLessThan(0.4);
    // The policy's exact preference for the rewarded letter rises step after step...
    expect(pA[16]).toBeGreaterThan(pA[0] + 0.3);
    expect(pA.slice(1).filter((p, i) => p > pA[i]).length).toBeGreaterThanOrEqual(13);
    // ...and so does the sampled reward.
    const start = mean(m.slice(0, 4).map((x) => x.reward_mean));
    const end = mean(m.slice(-4).map((x) => x.reward_mean));
    expect(start).toBeGreaterThan(0.1);
    expect(end).toBeGreaterThan(start + 0.15);
    // The policy moved away from the reference, and the metrics are complete.
    expect(m[m.length - 1].kl).toBeGreaterThan(1e-3);
    for (const x of m) {
      expect(x.updates).toBe(2);
      // Every metric is a finite number but the most named answer, an option's text.
      const { answer_top, ...numbers } = x;
      expect(typeof answer_top).toBe('string');
      for (const [k, v] of Object.entries(numbers)) expect(Number.isFinite(v), k).toBe(true);
      expect(x.answer_top_share).toBeGreaterThanOrEqual(0);
      expect(x.answer_top_share).toBeLessThanOrEqual(1);
    }
    // Inspection records: every group's responses with their rewards, advantages and ratios.
    const g = results[5].groups[0];
    expect(g.responses).toHaveLength(8);
    expect(g.prompt).toContain('sign ');
    for (const r of g.responses) {
      if (r.reward === 1) expect(r.format).toBe(true);
      if (!r.format) expect(r.reward).toBe(0);
      if (g.kept) {
        expect(r.ratios).toHaveLength(r.tokens.length);
        expect(r.kl).toHaveLength(r.tokens.length);
        expect(r.clip!.every((c) => c === 0 || c === 1 || c === 2)).toBe(true);
        // k3 = exp(d) - d - 1 >= 0 for every token.
        expect(r.kl!.every((k) => k >= 0)).toBe(true);
      }
    }
    expect(g.responses.reduce((a, r) => a + r.advantage, 0)).toBeCloseTo(0, 6);

    // Stopping: an abort between steps ends the run there, with no step half done.
    const ac = new AbortController();
    const stop = await runGrpo(grpo, items, prompts, { ...o, steps: 30, startStep: 16, signal: ac.signal }, () => ac.abort());
    expect(stop).toMatchObject({ stepsDone: 17, stopped: true });
    expect(grpo.updates).toBe(34);
    grpo.release();
    ref.release();
    model.release();
  }, 900_000);

  // GRPO learning from images: the reward alone teaches a small VLM to answer from the pixels.
  // Every prompt has the same words ("scan"); the pictures are bright (answer A) or dark (answer B).
  // The SFT warm-up teaches the answer format from a teacher with a blind spot: right on every dark
  // picture, but naming B for 80% of the bright ones, so the start policy answers B to nearly
  // everything. GRPO with the verifiable reward then has to make the answer depend on the picture:
  // a policy blind to the pixels gives the same p(A) for both kinds, so p(right | bright) +
  // p(right | dark) can be at most 1 for it; the test asks for well over 1.5 on 32 held-out pictures.
  it('the reward alone makes the answer follow the picture, where SFT had copied a blind spot', async () => {
    const target = (letter: string) => `<think>ok</think><answer>${letter}</answer>${CHAT.end}`;
    const user = (n: number) => `${CHAT.start}user\n${CHAT.image.repeat(n)}scan${CHAT.end}\n${CHAT.start}assistant\n`;
    const bpe = trainByteLevelBpe(`${user(1)}${target('A')}${target('B')}\n`.repeat(8), {
      vocabSize: 300,
      specialTokens: [...LAB_SPECIAL_TOKENS],
      eosToken: '<|im_end|>',
    });
    const tok = tokenizerFromJson(bpe.tokenizerJson, bpe.tokenizerConfig, 'test tokenizer');
    const cfg: ModelConfig = {
      ...textCfg(tok.vocabSize),
      imageTokenId: tok.tokenToId(CHAT.image)!,
      vision: { imageSize: SIDE, patchSize: 4, channels: 1, hiddenSize: 32, intermediateSize: 64, numLayers: 1, numHeads: 2, rmsNormEps: 1e-5 },
    };
    const P = imageTokens(cfg);
    const random = seededRandom(7);
    // Items: 16 pictures, 8 bright; the reward's gold letter follows the picture.
    const items: QAItem[] = [];
    const prompts: EncodedPrompt[] = [];
    for (let i = 0; i < 16; i++) {
      const bright = i % 2 === 0;
      items.push({
        images: [],
        question: 'scan',
        options: { A: 'bright', B: 'dark' },
        answer_label: bright ? 'A' : 'B',
        answer: bright ? 'bright' : 'dark',
        reasoning: 'ok',
        dataset_name: 'pictures',
        dataset_index: i,
        hash: `pic-${i}`,
      });
      prompts.push({ ids: tok.encode(user(P), { addSpecialTokens: false }), patches: patchify(picture(random, bright), cfg.vision!), nImages: 1 });
    }
    // Held out: 32 new pictures, half of each kind.
    const held = Array.from({ length: 32 }, (_, i) => ({
      gold: i % 2 === 0 ? 'A' : 'B',
      prompt: {
        ids: tok.encode(user(P), { addSpecialTokens: false }),
        patches: patchify(picture(random, i % 2 === 0), cfg.vision!),
        nImages: 1,
      } as EncodedPrompt,
    }));
    const gpu = await testGpu();
    const model = new Model(gpu, cfg);
    model.loadWeights(initWeights(cfg, 3));
    const pGold = async () => {
      const ps = await letterProbs(
        model,
        tok,
        held.map((h) => h.prompt),
        '<think>ok</think><answer>',
        held.map((h) => h.gold),
      );
      return { bright: mean(ps.filter((_, i) => i % 2 === 0)), dark: mean(ps.filter((_, i) => i % 2 === 1)) };
    };

    // SFT warm-up: the format, from the teacher with the blind spot.
    const sft = new Trainer(model, { lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, gradClip: 1 });
    const rand = seededRandom(6);
    for (let s = 0; s < 40; s++) {
      const exs: EncodedExample[] = Array.from({ length: 16 }, () => {
        const bright = rand() < 0.5;
        const p: EncodedPrompt = { ids: prompts[0].ids, patches: patchify(picture(rand, bright), cfg.vision!), nImages: 1 };
        // Right on every dark picture, on 20% of the bright ones.
        const letter = rand() < (bright ? 0.2 : 1) ? (bright ? 'A' : 'B') : 'B';
        const t = tok.encode(target(letter), { addSpecialTokens: false });
        return { ids: [...p.ids, ...t], lossMask: new Uint8Array(p.ids.length + t.length).fill(1, p.ids.length), patches: p.patches, nImages: 1 };
      });
      await sft.trainStep([collate(exs, { maxLength: 64, overflow: 'drop', pad: 'longest', padMultiple: 8, padId: tok.eosIds[0] })]);
    }
    sft.release();
    const start = await pGold();

    const ref = new Model(gpu, cfg);
    ref.loadWeights(await model.exportWeights());
    // lr 8e-3 and 8 prompts a step: the 16 pictures every two steps.
    const o = options({
      promptsPerStep: 8,
      microBatch: 64,
      rolloutBatch: 64,
      optim: { lr: 8e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, gradClip: 1 },
    });
    const grpo = new GrpoTrainer(model, ref, tok, o);
    const results: GrpoStepResult[] = [];
    const curve = [start];
    const run = await runGrpo(grpo, items, prompts, { ...o, steps: 10 }, async (r) => {
      results.push(r);
      curve.push(await pGold());
    });
    expect(run).toMatchObject({ stepsDone: 10, stopped: false });
    // Measured with this seed: p(right | bright) 0.34 -> 0.97 while p(right | dark) stays 0.99;
    // SFT seeds 5 and 7: 0.08 -> 0.74 (0.93 at step 12) and 0.39 -> 0.98, dark 0.95-1.00 throughout.
    const last = curve[curve.length - 1];
    expect(start.dark).toBeGreaterThan(0.9);
    expect(start.bright, 'SFT copied the blind spot').toBeLessThan(0.5);
    expect(start.bright + start.dark).toBeLessThan(1.5);
    expect(last.bright).toBeGreaterThan(0.8);
    expect(last.dark).toBeGreaterThan(0.9);
    // Beyond any policy that ignores the pixels (at most 1).
    expect(last.bright + last.dark).toBeGreaterThan(1.7);
    // It climbs step after step, and the sampled reward with it.
    expect(curve.slice(1).filter((c, i) => c.bright > curve[i].bright).length).toBeGreaterThanOrEqual(8);
    const rewards = results.map((r) => r.metrics.reward_mean);
    expect(mean(rewards.slice(-3))).toBeGreaterThan(mean(rewards.slice(0, 3)) + 0.1);
    grpo.release();
    ref.release();
    model.release();
  }, 900_000);
});
