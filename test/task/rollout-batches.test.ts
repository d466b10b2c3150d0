// sampleResponses decodes whole prompts' samples per batch, each prompt prefilled once (generate's
// samplesPerPrompt), and splits one item's samples over batches when the batch is smaller than n.
// Greedy decoding makes every sample of an item its own decode, so a sample filed under the wrong
// item, or a copy left out, shows: a random model answers each image question differently.
import { describe, it, expect } from 'vitest';
import { testGpu } from '../helpers/gpu';
import { Model, initWeights } from '../../src/model/model';
import { generateSynth } from '../../src/data/synth';
import { encodePrompt } from '../../src/task/encode';
import { sampleResponses } from '../../src/task/rollout';
import { tinyConfig, tinyTokenizer } from '../eval/run-helpers';

describe('sampleResponses batches', () => {
  it('files every sample under its item, whole groups per batch or a group split over batches', async () => {
    const { tok } = tinyTokenizer();
    const cfg = tinyConfig(tok);
    const gpu = await testGpu();
    const model = new Model(gpu, cfg);
    model.loadWeights(initWeights(cfg, 4, 0.5));
    try {
      const items = await generateSynth({ kind: 'image', level: 1, n: 3, seed: 8, split: 'train', imageSize: 16 });
      const encoded = await Promise.all(items.map((it) => encodePrompt(it, tok, cfg)));
      const o = { greedy: true, maxNewTokens: 8 };
      const alone: string[] = [];
      for (const [i, item] of items.entries()) alone.push((await sampleResponses(model, tok, [item], { ...o, n: 1 }, [encoded[i]]))[0].responses[0].ids.join());
      expect(new Set(alone).size).toBeGreaterThan(1);

      const n = 5;
      // Sequences per batch: an item's 5 samples split 2 + 2 + 1, or whole groups of 5.
      const expected: Record<number, number[]> = { 2: [2, 2, 1, 2, 2, 1, 2, 2, 1], 5: [5, 5, 5], 7: [5, 5, 5], 10: [10, 5], 64: [15] };
      for (const batchSize of [2, 5, 7, 10, 64]) {
        const progress: [number, number][] = [];
        const got = await sampleResponses(model, tok, items, { ...o, n, batchSize, onProgress: (d, t) => progress.push([d, t]) }, encoded);
        got.forEach((s, i) => {
          expect(s.item).toBe(items[i]);
          expect(
            s.responses.map((r) => r.ids.join()),
            `batch ${batchSize}, item ${i}`,
          ).toEqual(Array.from({ length: n }, () => alone[i]));
        });
        const sizes = progress.map(([d], k) => d - (k ? progress[k - 1][0] : 0));
        expect(sizes, `batch ${batchSize}`).toEqual(expected[batchSize]);
        expect(progress.at(-1)).toEqual([items.length * n, items.length * n]);
      }
    } finally {
      model.release();
    }
  });
});
