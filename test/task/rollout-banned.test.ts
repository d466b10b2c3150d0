// A response may not hold the image placeholder, the turn opener, BOS or padding. The scripted tiny
// VLM of test/eval/run-helpers.ts is edited so that its head favours <image> (and <|im_start|>)
// over the scripted answer at every step: unbanned decoding emits them, the recipe's sampler never
// does, and a GRPO step on image items runs on its rollouts (the app's GRPO on image data crashed at
// step 2 with "65 <image> placeholder tokens for 4 images" before).
import { describe, it, expect } from 'vitest';
import { testGpu } from '../helpers/gpu';
import { Model } from '../../src/model/model';
import { generate } from '../../src/model/generate';
import { generateSynth } from '../../src/data/synth';
import { encodePrompt, endOfTurnIds, responseBannedIds } from '../../src/task/encode';
import { sampleResponses } from '../../src/task/rollout';
import { GrpoTrainer } from '../../src/recipe/grpo';
import { checkFormat } from '../../src/task/reward';
import { CHAT } from '../../src/io/chat';
import { promptEndToken, scriptedResponse, scriptWeights, tinyConfig, tinyTokenizer } from '../eval/run-helpers';
import { initWeights } from '../../src/model/model';
import { grpoTestOptions } from '../recipe/grpo-options';

describe('sampling never emits tokens a response may not hold', () => {
  it('a model whose head favours <image> still gives well-formed rollouts, greedy and sampled, and GRPO trains on them', async () => {
    const { tok } = tinyTokenizer();
    const cfg = tinyConfig(tok);
    const w = initWeights(cfg, 1);
    scriptWeights(cfg, w, tok, 0.7);
    const d = cfg.text.hiddenSize;
    const image = tok.tokenToId(CHAT.image)!,
      opener = tok.tokenToId(CHAT.start)!;
    const H = w.get('lm_head.weight')!.data;
    // The scripted chain lives on axes 0..7 (each a logit of 8 * sqrt(d)); the placeholder and the
    // turn opener get 10 and 9 on every one of them, so they top every step's distribution.
    for (let axis = 0; axis < 8; axis++) {
      H[image * d + axis] = 10;
      H[opener * d + axis] = 9;
    }
    const banned = responseBannedIds(tok, cfg);
    expect(banned).toEqual(expect.arrayContaining([image, opener]));
    expect(banned.some((id) => endOfTurnIds(tok).includes(id))).toBe(false);

    const gpu = await testGpu();
    const model = new Model(gpu, cfg);
    model.loadWeights(w);
    let grpo: GrpoTrainer | null = null;
    try {
      const items = await generateSynth({ kind: 'image', level: 1, n: 2, seed: 3, split: 'train', imageSize: 16 });
      const encoded = await Promise.all(items.map((it) => encodePrompt(it, tok, cfg)));
      expect(encoded.every((e) => e.nImages === 1)).toBe(true);

      // The teeth: without the ban, greedy decoding starts with <image>.
      const free = await generate(model, [[promptEndToken(tok)]], { maxNewTokens: 3, greedy: true, eosIds: endOfTurnIds(tok) });
      expect(free.ids[0][0]).toBe(image);

      const greedy = await sampleResponses(model, tok, items, { n: 1, greedy: true, maxNewTokens: 12 }, encoded);
      for (const s of greedy) expect(s.responses[0].text).toBe(scriptedResponse('A'));

      const sampled = await sampleResponses(model, tok, items, { n: 8, temperature: 1, maxNewTokens: 12, seed: 5 }, encoded);
      const all = sampled.flatMap((s) => s.responses);
      expect(all.flatMap((r) => r.ids).filter((id) => banned.includes(id))).toEqual([]);
      expect(all.every((r) => checkFormat(r.text))).toBe(true);
      const letters = new Set(all.map((r) => /<answer>(.)<\/answer>/.exec(r.text)?.[1]));
      expect(letters).toEqual(new Set(['A', 'B'])); // a real draw between the scripted letters

      // Two GRPO steps on the image items (the old crash came at step 2).
      grpo = new GrpoTrainer(
        model,
        null,
        tok,
        grpoTestOptions({
          groupSize: 4,
          microBatch: 8,
          rolloutBatch: 8,
          maxNewTokens: 12,
          loss: { klCoef: 0 },
          optim: { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, gradClip: 1 },
          seed: 2,
        }),
      );
      for (let step = 0; step < 2; step++) {
        const r = await grpo.step(step, items, encoded);
        expect(r.metrics.format_rate).toBe(1);
        expect(Number.isFinite(r.metrics.loss)).toBe(true);
        expect(r.groups.flatMap((g) => g.responses).every((x) => !x.tokens.includes(CHAT.image))).toBe(true);
      }
    } finally {
      grpo?.release();
      model.release();
    }
  });
});
