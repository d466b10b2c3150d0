// Sampling responses to question items: the one loop behind GRPO rollouts, pass-count curation
// and benchmark evaluation. Items are encoded once; each item's prompt is repeated n times and
// decoded in batches with the KV cache, images duplicated alongside their prompt copies.
import type { QAItem } from './schema';
import type { TextTokenizer } from '../io/tokenizer';
import type { Model } from '../model/model';
import { generate, type Decoding } from '../model/generate';
import { encodePrompt, endOfTurnIds, responseBannedIds, type EncodedPrompt, type PatchCache } from './encode';
import type { PromptOptions } from './prompt';

export interface SampleOptions extends Decoding {
  /** Responses per item (G for GRPO, k for pass counts, n for pass@n). */
  n: number;
  /** Sequences decoded together (a multiple of n keeps an item's copies in one batch). */
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
  const jobs: { item: number; copy: number }[] = [];
  items.forEach((_, i) => {
    for (let c = 0; c < o.n; c++) jobs.push({ item: i, copy: c });
  });
  const out: ItemSamples[] = items.map((item, i) => ({ item, prompt: prompts[i], responses: new Array<Response>(o.n) }));
  const bs = Math.max(1, o.batchSize ?? Math.max(o.n, 8));
  let batchNo = 0;
  for (let start = 0; start < jobs.length; start += bs) {
    if (o.signal?.aborted) throw new Error('sampling cancelled');
    const batch = jobs.slice(start, start + bs);
    const ps = batch.map((j) => prompts[j.item]);
    const nImages = ps.reduce((a, p) => a + p.nImages, 0);
    let images: { patches: Float32Array; nImages: number } | undefined;
    if (nImages > 0) {
      const patches = new Float32Array(ps.reduce((a, p) => a + p.patches.length, 0));
      let off = 0;
      for (const p of ps) {
        patches.set(p.patches, off);
        off += p.patches.length;
      }
      images = { patches, nImages };
    }
    const res = await generate(
      model,
      ps.map((p) => p.ids),
      {
        maxNewTokens: o.maxNewTokens,
        greedy: o.greedy,
        temperature: o.temperature,
        topP: o.topP,
        // A different stream per batch, reproducible from the run's seed.
        seed: ((o.seed ?? 0) * 1000003 + batchNo++) >>> 0,
        eosIds: eos,
        bannedIds: banned,
        signal: o.signal,
      },
      images,
    );
    batch.forEach((j, b) => {
      const ids = res.ids[b];
      // The end-of-turn token ends the response; it is not part of the answer text.
      const body = res.finished[b] ? ids.slice(0, -1) : ids;
      out[j.item].responses[j.copy] = { ids, text: tok.decode(body, { skipSpecialTokens: false }), logps: res.logps[b], finished: res.finished[b] };
    });
    o.onProgress?.(Math.min(start + bs, jobs.length), jobs.length);
  }
  return out;
}
