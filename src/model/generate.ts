// Batched generation with a KV cache, sampling on the GPU.
//
// Prompts of different lengths are left-padded to one length Tp; each sequence's keys start at
// kstart[b] = its padding, and its RoPE positions count from its first real token, as
// transformers does with an attention mask. Step 0 samples from the prefill's last row; every
// later step embeds the token sampled one step before straight from the GPU-resident history, so
// decoding needs no host round trip except a periodic look for end-of-sequence tokens.

import { InputError } from '../engine/errors';
import { CommandStream } from '../engine/stream';
import { Arena, download, downloadU32, slice, upload, type Tensor } from '../engine/tensor';
import { bannedMask, bannedWords, sample } from '../engine/kernels/sampling';
import { Activations } from './activations';
import { headRows, textForward } from './forward';
import { uploadImages } from './batch';
import type { Model } from './model';

/**
 * How tokens are picked: the options generation, rollouts and evaluation share (the sampling
 * kernel's resolved form is kernels/sampling.ts SampleOpts). Defaults: temperature 1, top-p 1, seed 0.
 */
export interface Decoding {
  maxNewTokens: number;
  greedy?: boolean;
  temperature?: number;
  /** Nucleus mass in (0, 1]. */
  topP?: number;
  seed?: number;
  /**
   * The KV cache's precision: f16 halves its memory and the bytes a decoded token reads (keys and
   * values rounded to f16, attention still computed in f32). Default: the device's (Gpu.kvF16).
   */
  kvCache?: 'f32' | 'f16';
}

export interface GenerateOptions extends Decoding {
  /** Stop a sequence at the first of these ids (it is kept in the output). Empty: always N tokens. */
  eosIds?: number[];
  /**
   * Ids never generated (the image placeholder, padding, BOS: tokens a response may not hold; see
   * `responseBannedIds`). Their logits still count in the recorded log-probs.
   */
  bannedIds?: number[];
  /**
   * Sequences sampled from each prompt (default 1). The result holds prompts.length x this many,
   * prompt-major. Each prompt (and its images) is prefilled once and its keys and values are
   * written into every copy's cache: GRPO's G samples of one question share one prefill.
   */
  samplesPerPrompt?: number;
  /** Look for EOS / report progress every this many tokens (default 8). */
  syncEvery?: number;
  /** Called after each sync with the tokens so far. */
  onTokens?: (tokens: number[][]) => void;
  signal?: AbortSignal;
}

export interface GenerateResult {
  /** Generated ids per sequence (prompt-major: sequence j samples prompt floor(j / samplesPerPrompt)), ending at (and including) the first EOS when eosIds is set. */
  ids: number[][];
  /** log p(token) under the sampling distribution's temperature (before top-p), per generated token. */
  logps: number[][];
  /** Whether each sequence ended with EOS (false: hit maxNewTokens). */
  finished: boolean[];
}

export interface ImageInput {
  /** Patch vectors of every image across the batch, in placeholder order. */
  patches: Float32Array;
  nImages: number;
}

const pad64 = (n: number) => Math.ceil(n / 64) * 64;

export async function generate(m: Model, prompts: number[][], o: GenerateOptions, images?: ImageInput): Promise<GenerateResult> {
  const gpu = m.gpu;
  const t = m.cfg.text;
  const copies = o.samplesPerPrompt ?? 1;
  if (!Number.isInteger(copies) || copies < 1) throw new InputError('generate', `samplesPerPrompt must be a whole number >= 1, not ${copies}`);
  const U = prompts.length;
  const B = U * copies;
  if (B === 0) return { ids: [], logps: [], finished: [] };
  if (prompts.some((p) => p.length === 0)) throw new InputError('generate', 'every prompt needs at least one token');
  const Tp = Math.max(...prompts.map((p) => p.length));
  const steps = Math.max(0, Math.floor(o.maxNewTokens));
  const cap = Tp + steps;
  if (cap > t.maxPositionEmbeddings) {
    throw new InputError('generate', `prompt (${Tp} tokens) + ${steps} new tokens exceeds the model's context of ${t.maxPositionEmbeddings} tokens`);
  }
  for (const p of prompts)
    for (const id of p) {
      if (!Number.isInteger(id) || id < 0 || id >= t.vocabSize)
        throw new InputError('generate', `prompt token id ${id} is outside the vocabulary (${t.vocabSize})`);
    }
  if (steps === 0) return { ids: Array.from({ length: B }, () => []), logps: Array.from({ length: B }, () => []), finished: new Array<boolean>(B).fill(false) };

  const nImages = images?.nImages ?? 0;
  const kw = t.numKvHeads * t.headDim;
  const Bp = pad64(B);
  const kvDtype = o.kvCache ?? (gpu.kvF16 ? 'f16' : 'f32');
  if (kvDtype !== 'f32' && kvDtype !== 'f16') throw new InputError('generate', `kvCache must be "f32" or "f16", not ${JSON.stringify(kvDtype)}`);
  // An f16 cache packs pairs along a row (an odd row width keeps f32) and is read in groups of 8
  // halves: an even capacity makes every layer's cache a whole number of them (kw is a multiple of 4
  // in every preset; attention.ts falls back to scalar loads otherwise).
  const dtype = kvDtype === 'f16' && kw % 2 === 0 ? ('f16' as const) : ('f32' as const);
  if (kvDtype === 'f16' && dtype !== 'f16' && o.kvCache) throw new InputError('generate', `an f16 KV cache needs an even row width; this model's is ${kw}`);
  const capacity = dtype === 'f16' ? cap + (cap % 2) : cap;
  const cacheEntries = [];
  for (let l = 0; l < t.numLayers; l++) {
    cacheEntries.push({ name: `k.${l}`, shape: [B, capacity, kw], dtype }, { name: `v.${l}`, shape: [B, capacity, kw], dtype });
  }
  const cache = new Arena(gpu, 'kvcache', cacheEntries);
  const hist = new Arena(gpu, 'generate', [
    { name: 'tokens', shape: [steps, Bp], dtype: 'u32' },
    { name: 'logp', shape: [steps, Bp], dtype: 'f32' },
    { name: 'positions', shape: [steps, Bp], dtype: 'u32' },
    { name: 'qpos', shape: [steps, Bp], dtype: 'u32' },
    { name: 'lastRow', shape: [B], dtype: 'u32' },
    { name: 'banned', shape: [bannedWords(t.vocabSize)], dtype: 'u32' },
  ]);
  const prefill = new Activations(gpu, m.cfg, { B: U, T: Tp, nImages, training: false, noLogits: true }, m.lora);
  const dec = new Activations(gpu, m.cfg, { B, T: 1, nImages: 0, training: false }, m.lora);
  const s = new CommandStream(gpu, 'generate');
  // The prefill's last rows go through the head into the decode arena's logits.
  dec.reserveLogits(s, B);
  try {
    // Left-padded prompt; pad tokens are masked out by kstart and never attended to. pads is per
    // prompt (the prefill's rows), seqPads per sequence (the decode's).
    const pads = prompts.map((p) => Tp - p.length);
    const seqPads = Array.from({ length: B }, (_, j) => pads[Math.floor(j / copies)]);
    const ids = new Uint32Array(U * Tp);
    const pos = new Uint32Array(U * Tp);
    const qpos = new Uint32Array(U * Tp);
    prompts.forEach((p, b) => {
      for (let i = 0; i < Tp; i++) {
        ids[b * Tp + i] = i < pads[b] ? p[0] : p[i - pads[b]];
        pos[b * Tp + i] = Math.max(0, i - pads[b]);
        qpos[b * Tp + i] = i;
      }
    });
    upload(gpu, prefill.get('ids'), ids);
    upload(gpu, prefill.get('positions'), pos);
    upload(gpu, prefill.get('qpos'), qpos);
    upload(gpu, prefill.get('kstart'), Uint32Array.from(pads));
    upload(gpu, dec.get('kstart'), Uint32Array.from(seqPads));
    if (nImages > 0) uploadImages(m, prefill, ids, nImages, images!.patches, undefined, 'generate');
    upload(
      gpu,
      hist.get('banned'),
      bannedMask(
        t.vocabSize,
        (o.bannedIds ?? []).filter((id) => !(o.eosIds ?? []).includes(id)),
      ),
    );
    // Every copy of a prompt samples its first token from the prompt's last prefill row.
    upload(
      gpu,
      hist.get('lastRow'),
      Uint32Array.from({ length: B }, (_, j) => Math.floor(j / copies) * Tp + Tp - 1),
    );
    const stepPos = new Uint32Array(steps * Bp);
    const stepQ = new Uint32Array(steps * Bp);
    for (let st = 1; st < steps; st++) {
      for (let b = 0; b < B; b++) {
        stepPos[st * Bp + b] = Tp + st - 1 - seqPads[b];
        stepQ[st * Bp + b] = Tp + st - 1;
      }
    }
    upload(gpu, hist.get('positions'), stepPos);
    upload(gpu, hist.get('qpos'), stepQ);

    const row = (name: string, st: number): Tensor => slice(hist.get(name), st * Bp, [B]);
    const sopts = (st: number) => ({
      greedy: o.greedy ?? false,
      temperature: o.temperature ?? 1,
      topP: o.topP ?? 1,
      seed: o.seed ?? 0,
      step: st,
    });
    const kcache = (l: number) => cache.get(`k.${l}`),
      vcache = (l: number) => cache.get(`v.${l}`);

    textForward(s, m, prefill, { cache: { k: kcache, v: vcache, cap: capacity, pos0: 0, kLen: Tp, copies }, logits: 'none' });
    headRows(s, m, prefill.get('lnf'), hist.get('lastRow'), dec.get('lnf'), dec.get('logits'), B);
    sample(s, dec.get('logits'), row('tokens', 0), row('logp', 0), hist.get('banned'), B, t.vocabSize, sopts(0));

    const eos = new Set(o.eosIds ?? []);
    const syncEvery = Math.max(1, o.syncEvery ?? 8);
    let done = 1;
    let finishedAll = false;
    const check = async (): Promise<boolean> => {
      s.submit();
      const toks = await downloadU32(gpu, hist.get('tokens'), done * Bp);
      const per = Array.from({ length: B }, (_, b) => Array.from({ length: done }, (_, st) => toks[st * Bp + b]));
      o.onTokens?.(per.map((seq) => cut(seq, eos)));
      return eos.size > 0 && per.every((seq) => seq.some((x) => eos.has(x)));
    };
    for (let st = 1; st < steps; st++) {
      if (o.signal?.aborted) throw new Error('generation cancelled');
      if ((st - 1) % syncEvery === 0 && st > 1 && (finishedAll = await check())) break;
      textForward(s, m, dec, {
        ids: row('tokens', st - 1),
        positions: row('positions', st),
        qpos: row('qpos', st),
        cache: { k: kcache, v: vcache, cap: capacity, pos0: Tp + st - 1, kLen: Tp + st },
      });
      sample(s, dec.get('logits'), row('tokens', st), row('logp', st), hist.get('banned'), B, t.vocabSize, sopts(st));
      done = st + 1;
    }
    if (!finishedAll) await check();
    await s.sync();
    const toks = await downloadU32(gpu, hist.get('tokens'), done * Bp);
    const lps = await download(gpu, hist.get('logp'), done * Bp);
    const res: GenerateResult = { ids: [], logps: [], finished: [] };
    for (let b = 0; b < B; b++) {
      const seq = Array.from({ length: done }, (_, st) => toks[st * Bp + b]);
      const kept = cut(seq, eos);
      res.ids.push(kept);
      res.logps.push(Array.from({ length: kept.length }, (_, st) => lps[st * Bp + b]));
      res.finished.push(kept.length > 0 && eos.has(kept[kept.length - 1]));
    }
    return res;
  } finally {
    s.destroy();
    prefill.release();
    dec.release();
    hist.release();
    cache.release();
  }
}

function cut(seq: number[], eos: Set<number>): number[] {
  const i = seq.findIndex((x) => eos.has(x));
  return i < 0 ? seq : seq.slice(0, i + 1);
}

/**
 * Greedy decoding without a KV cache: every step runs the whole sequence again. The bench's
 * baseline for the cache and a check of it (same tokens). Prompts of one length, decoded together.
 */
export async function generateNoCache(m: Model, prompts: number[][], n: number): Promise<number[][]> {
  const gpu = m.gpu;
  const B = prompts.length;
  if (B === 0) return [];
  if (prompts.some((p) => p.length !== prompts[0].length || p.length === 0))
    throw new InputError('generateNoCache', 'prompts must be non-empty and of one length');
  const V = m.cfg.text.vocabSize;
  const out: number[][] = prompts.map(() => []);
  const seqs = prompts.map((p) => [...p]);
  const s = new CommandStream(gpu, 'generate-nocache');
  try {
    for (let i = 0; i < n; i++) {
      const T = seqs[0].length;
      const acts = new Activations(gpu, m.cfg, { B, T, nImages: 0, training: false }, m.lora);
      try {
        upload(gpu, acts.get('ids'), Uint32Array.from(seqs.flat()));
        const p = Uint32Array.from({ length: B * T }, (_, j) => j % T);
        upload(gpu, acts.get('positions'), p);
        upload(gpu, acts.get('qpos'), p);
        upload(gpu, acts.get('kstart'), new Uint32Array(B));
        textForward(s, m, acts);
        s.submit();
        const logits = await download(gpu, acts.get('logits'), B * T * V);
        for (let b = 0; b < B; b++) {
          const row = (b * T + T - 1) * V;
          let best = 0;
          for (let v = 1; v < V; v++) if (logits[row + v] > logits[row + best]) best = v;
          out[b].push(best);
          seqs[b].push(best);
        }
      } finally {
        acts.release();
      }
    }
    return out;
  } finally {
    s.destroy();
  }
}
