// A question item to model inputs: token ids of the chat prompt (and, for SFT, the target with its
// loss mask), and the patch vectors of its images. Shared by SFT, GRPO, curation and evaluation so
// that every stage of the recipe sees exactly the same prompt.
import { InputError } from '../engine/errors';
import type { QAItem } from './schema';
import { decodeImage } from '../io/images';
import type { TextTokenizer } from '../io/tokenizer';
import { patchesPerImage, type ModelConfig } from '../model/config';
import { patchify } from '../model/patches';
import { promptText, sftTarget, type PromptOptions } from './prompt';
import { CHAT, chatPrompt } from '../io/chat';

export interface EncodedPrompt {
  /** Prompt token ids, ending where the assistant's first token goes. */
  ids: number[];
  /** Patch vectors of the item's images in order: [nImages * patches, patchDim]. */
  patches: Float32Array;
  nImages: number;
}

export interface EncodedExample extends EncodedPrompt {
  /** 1 where the token is part of the assistant's answer (loss is taken on predicting it). */
  lossMask: Uint8Array;
}

/** How many images of an item the model sees (text-only models see none and get the question alone). */
export function usableImages(item: QAItem, cfg: ModelConfig): number {
  return cfg.vision && cfg.imageTokenId !== undefined ? item.images.length : 0;
}

/**
 * Patches of images already decoded for one model, by image name: real VQA sets ask several
 * questions about each image (VQA-RAD 1,007 closed training questions on 287 images), and decoding
 * a full-size JPEG costs far more than a training step's share of it. One cache serves one model
 * shape and one set of images (names must identify the pixels).
 */
export type PatchCache = Map<string, Promise<Float32Array>>;

export async function imagePatches(item: QAItem, cfg: ModelConfig, cache?: PatchCache): Promise<Float32Array> {
  const v = cfg.vision;
  const n = usableImages(item, cfg);
  if (!v || n === 0) return new Float32Array(0);
  const parts: Float32Array[] = [];
  for (const img of item.images.slice(0, n)) {
    const where = `${item.dataset_name}[${item.dataset_index}] image ${img.name}`;
    const decode = async () => {
      const decoded = await decodeImage(await img.load(), { width: v.imageSize, height: v.imageSize, channels: v.channels === 1 ? 1 : 3 }, where);
      return patchify(decoded.data, v, where);
    };
    let p = cache?.get(img.name);
    if (!p) {
      p = decode();
      cache?.set(img.name, p);
    }
    parts.push(await p);
  }
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export async function encodePrompt(item: QAItem, tok: TextTokenizer, cfg: ModelConfig, o: PromptOptions = {}, cache?: PatchCache): Promise<EncodedPrompt> {
  const nImages = usableImages(item, cfg);
  const per = cfg.vision ? patchesPerImage(cfg.vision) : 0;
  const text = chatPrompt(promptText(item, o), nImages, per);
  const ids = tok.encode(text, { addSpecialTokens: false });
  checkIds(ids, tok, cfg, item);
  return { ids, patches: await imagePatches(item, cfg, cache), nImages };
}

/** Prompt + SFT target + end of turn, with the loss on the target and the end-of-turn token. */
export async function encodeSftExample(item: QAItem, tok: TextTokenizer, cfg: ModelConfig, o: PromptOptions = {}, cache?: PatchCache): Promise<EncodedExample> {
  const p = await encodePrompt(item, tok, cfg, o, cache);
  const target = tok.encode(sftTarget(item) + CHAT.end, { addSpecialTokens: false });
  checkIds(target, tok, cfg, item);
  const ids = [...p.ids, ...target];
  const lossMask = new Uint8Array(ids.length);
  lossMask.fill(1, p.ids.length);
  return { ...p, ids, lossMask };
}

function checkIds(ids: number[], tok: TextTokenizer, cfg: ModelConfig, item: QAItem) {
  const V = cfg.text.vocabSize;
  const bad = ids.find((id) => id >= V);
  if (bad !== undefined) {
    throw new InputError(
      `${item.dataset_name}[${item.dataset_index}]`,
      `tokenizer id ${bad} (${tok.idToToken(bad)}) is outside the model's vocabulary of ${V}`,
    );
  }
  if (cfg.imageTokenId !== undefined && tok.tokenToId(CHAT.image) !== cfg.imageTokenId) {
    throw new InputError('tokenizer', `<image> is token ${tok.tokenToId(CHAT.image)} but the model expects ${cfg.imageTokenId}`);
  }
}

/**
 * Ids a response may not hold, banned in the sampler for rollouts, evaluation and Ask: the image
 * placeholder (a generated one would have no image behind it), the turn opener, BOS and padding,
 * and `<|endoftext|>` where it does not end a turn. End-of-turn ids are never banned. Ids past the
 * model's vocabulary are left out (the head cannot produce them anyway).
 */
export function responseBannedIds(tok: TextTokenizer, cfg: ModelConfig): number[] {
  const eos = new Set(endOfTurnIds(tok));
  const ids = [
    tok.tokenToId(CHAT.image),
    cfg.imageTokenId,
    tok.tokenToId(CHAT.start),
    tok.tokenToId('<|endoftext|>'),
    tok.bosId,
    tok.padId,
    cfg.text.padTokenId,
  ];
  return [...new Set(ids.filter((id): id is number => id !== undefined && id < cfg.text.vocabSize && !eos.has(id)))];
}

/** The end-of-turn id that stops generation. */
export function endOfTurnIds(tok: TextTokenizer): number[] {
  const id = tok.tokenToId(CHAT.end);
  return [...new Set([...(id !== undefined ? [id] : []), ...tok.eosIds])];
}
