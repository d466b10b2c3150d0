// Sampling responses to question items: the one loop behind GRPO rollouts, pass-count curation
// and benchmark evaluation. Items are encoded once; each item's prompt (and image) is prefilled
// once and its n samples are decoded together with the KV cache (generate's samplesPerPrompt).
import type { QAItem } from './schema';
import type { TextTokenizer } from '../io/tokenizer';
import type { Model } from '../model/model';
import { generate, type Decoding } from '../model/generate';
import { joinImages } from '../model/batch';
import { encodePrompt, endOfTurnIds, responseBannedIds, type EncodedPrompt, type PatchCache } from './encode';
import type { PromptOptions } from './prompt';

export interface SampleOptions extends Decoding {
  /** Responses per item (G for GRPO, k for pass counts, n for pass@n). */
  n: number;
  /** Sequences decoded together: whole items' n samples each (at least one item's, or n split when smaller). */
  batchSize?: number;
  prompt?: PromptOptions;
  signal?: AbortSignal;
  /** Called after each batch with how many sequences are done out of the total. */
  onProgress?: (done: number, total: number) => void;
}

export interface Response {
  ids: number[];
  text: string;
  /** log p of each response token at sampling time (the "old policy" of GRPO). */
  logps: number[];
  /** Ended with the end-of-turn token (false: cut at maxNewTokens). */
  finished: boolean;
}

export interface ItemSamples {
  item: QAItem;
  prompt: EncodedPrompt;
  responses: Response[];
}

export async function sampleResponses(model: Model, tok: TextTokenizer, items: QAItem[], o: SampleOptions, encoded?: EncodedPrompt[]): Promise<ItemSamples[]> {
  const cache: PatchCache = new Map();
  const prompts = encoded ?? (await Promise.all(items.map((it) => encodePrompt(it, tok, model.cfg, o.prompt, cache))));
  const eos = endOfTurnIds(tok, model.cfg);
  const banned = responseBannedIds(tok, model.cfg);
  // A batch is whole prompts' samples: `per` items x `copies` samples each, every prompt prefilled
  // once (generate's samplesPerPrompt). A batch smaller than n splits an item's samples over
  // several batches, each still sharing its prefill.
  const bs = Math.max(1, o.batchSize ?? Math.max(o.n, 8));
  const copiesPer = Math.min(o.n, bs);
  const batches: { items: number[]; copy0: number; copies: number }[] = [];
  if (bs >= o.n) {
    const per = Math.floor(bs / o.n);
    for (let i = 0; i < items.length; i += per) batches.push({ items: range(i, Math.min(i + per, items.length)), copy0: 0, copies: o.n });
  } else {
    items.forEach((_, i) => {
      for (let c = 0; c < o.n; c += copiesPer) batches.push({ items: [i], copy0: c, copies: Math.min(copiesPer, o.n - c) });
    });
  }
  const out: ItemSamples[] = items.map((item, i) => ({ item, prompt: prompts[i], responses: new Array<Response>(o.n) }));
  const total = items.length * o.n;
  let done = 0;
  for (const [batchNo, batch] of batches.entries()) {
    if (o.signal?.aborted) throw new Error('sampling cancelled');
    const ps = batch.items.map((i) => prompts[i]);
    const res = await generate(
      model,
      ps.map((p) => p.ids),
      {
        maxNewTokens: o.maxNewTokens,
        greedy: o.greedy,
        temperature: o.temperature,
        topP: o.topP,
        // A different stream per batch, reproducible from the run's seed.
        seed: ((o.seed ?? 0) * 1000003 + batchNo) >>> 0,
        eosIds: eos,
        bannedIds: banned,
        samplesPerPrompt: batch.copies,
        signal: o.signal,
      },
      joinImages(ps),
    );
    res.ids.forEach((ids, j) => {
      const item = batch.items[Math.floor(j / batch.copies)];
      const copy = batch.copy0 + (j % batch.copies);
      // The end-of-turn token ends the response; it is not part of the answer text.
      const body = res.finished[j] ? ids.slice(0, -1) : ids;
      out[item].responses[copy] = { ids, text: tok.decode(body, { skipSpecialTokens: false }), logps: res.logps[j], finished: res.finished[j] };
    });
    done += res.ids.length;
    o.onProgress?.(done, total);
  }
  return out;
}

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
