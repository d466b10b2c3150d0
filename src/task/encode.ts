// A question item to model inputs: token ids of the chat prompt (and, for SFT, the target with its
// loss mask), and the patch vectors of its images. Shared by SFT, GRPO, curation and evaluation so
// that every stage of the recipe sees exactly the same prompt.
import { InputError } from '../engine/errors';
import type { ImageRef, QAItem } from './schema';
import { decodeImage, decodeRgba } from '../io/images';
import type { TextTokenizer } from '../io/tokenizer';
import { hasVision, imageTokens, type ModelConfig } from '../model/config';
import { idefics3Patches, patchify } from '../model/patches';
import { promptText, sftTarget, type PromptOptions } from './prompt';
import { CHAT, LAB_CHAT, expandImages, type ChatFormat } from '../io/chat';
import { templateChat } from '../io/chat-template';
import { IDEFICS3_DEFAULTS, idefics3Preprocess, imagePromptString } from '../io/idefics3-processor';

export interface EncodedPrompt {
  /** Prompt token ids, ending where the assistant's first token goes. */
  ids: number[];
  /** Patch vectors of the item's images in order: [nImages * patches, patchDim]. */
  patches: Float32Array;
  /** Encoder inputs: images for lab models, tiles for Idefics3 (an image splits into rows x cols + 1). */
  nImages: number;
}

export interface EncodedExample extends EncodedPrompt {
  /** 1 where the token is part of the assistant's answer (loss is taken on predicting it). */
  lossMask: Uint8Array;
}

/** How many images of an item the model sees (text-only models see none and get the question alone). */
export function usableImages(item: QAItem, cfg: ModelConfig): number {
  return hasVision(cfg) && cfg.imageTokenId !== undefined ? item.images.length : 0;
}

const formats = new WeakMap<TextTokenizer, ChatFormat>();

/**
 * How a model's turns are written: an Idefics3 checkpoint's own chat template (SmolVLM was trained
 * on it), the lab's markers for every other model.
 */
export function chatFormat(tok: TextTokenizer, cfg: ModelConfig): ChatFormat {
  if (!cfg.idefics3) return LAB_CHAT;
  let f = formats.get(tok);
  if (!f) {
    if (!tok.chatTemplate)
      throw new InputError('tokenizer', 'an Idefics3 (SmolVLM) model needs its chat template (chat_template.json or tokenizer_config.json)');
    f = templateChat(tok.chatTemplate, tok, 'chat template');
    formats.set(tok, f);
  }
  return f;
}

/** One image as the model reads it: its patch vectors, the encoder inputs it fills, and the prompt text that stands for it. */
export interface EncodedImage {
  patches: Float32Array;
  tiles: number;
  text: string;
}

/**
 * Images already encoded for one model, by image name: real VQA sets ask several questions about
 * each image (VQA-RAD 1,007 closed training questions on 287 images), and decoding a full-size JPEG
 * costs far more than a training step's share of it. One cache serves one model and one set of
 * images (names must identify the pixels).
 */
export type PatchCache = Map<string, Promise<EncodedImage>>;

async function encodeImage(img: ImageRef, cfg: ModelConfig, tok: TextTokenizer | undefined, where: string): Promise<EncodedImage> {
  const bytes = await img.load();
  if (cfg.idefics3) {
    // Idefics3's processor: resize, split into tiles plus a global view, normalise (Pillow-exact).
    const rgba = await decodeRgba(bytes, where);
    const proc = tok?.imageProcessor ?? IDEFICS3_DEFAULTS;
    const px = idefics3Preprocess({ data: Uint8Array.from(rgba.rgba), width: rgba.width, height: rgba.height, channels: 4 }, proc, where);
    if (px.size !== cfg.idefics3.imageSize) {
      throw new InputError(
        where,
        `the processor makes ${px.size}px tiles but the vision tower reads ${cfg.idefics3.imageSize}px (max_image_size in preprocessor_config.json)`,
      );
    }
    return { patches: idefics3Patches(px.tiles, cfg.idefics3, where), tiles: px.count, text: imagePromptString(px.rows, px.cols, imageTokens(cfg)) };
  }
  const v = cfg.vision!;
  const decoded = await decodeImage(bytes, { width: v.imageSize, height: v.imageSize, channels: v.channels === 1 ? 1 : 3 }, where);
  return { patches: patchify(decoded.data, v, where), tiles: 1, text: CHAT.image.repeat(imageTokens(cfg)) };
}

/**
 * The prompt text of the largest image the model's processor can make (every image fills the same
 * for lab models; an Idefics3 image fills at most a grid of ceil(longest edge / tile) tiles a side
 * plus the global view), to size prompts without decoding their images.
 */
export function largestImageText(tok: TextTokenizer, cfg: ModelConfig): string {
  if (!cfg.idefics3) return CHAT.image.repeat(imageTokens(cfg));
  const p = tok.imageProcessor ?? IDEFICS3_DEFAULTS;
  const longest = 'longestEdge' in p.size ? p.size.longestEdge : Math.max(p.size.height, p.size.width);
  const n = p.doImageSplitting ? Math.ceil(longest / p.maxImageSize) : 0;
  return imagePromptString(n > 1 ? n : 0, n > 1 ? n : 0, imageTokens(cfg));
}

/** The usable images of an item, encoded in order (through `cache` when given). */
export async function encodeImages(item: QAItem, cfg: ModelConfig, tok?: TextTokenizer, cache?: PatchCache): Promise<EncodedImage[]> {
  const out: EncodedImage[] = [];
  for (const img of item.images.slice(0, usableImages(item, cfg))) {
    let p = cache?.get(img.name);
    if (!p) {
      p = encodeImage(img, cfg, tok, `${item.dataset_name}[${item.dataset_index}] image ${img.name}`);
      cache?.set(img.name, p);
    }
    out.push(await p);
  }
  return out;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The prompt of a user turn `userText` about the item's images: token ids and encoder inputs. */
export async function encodeUserTurn(userText: string, item: QAItem, tok: TextTokenizer, cfg: ModelConfig, cache?: PatchCache): Promise<EncodedPrompt> {
  const images = await encodeImages(item, cfg, tok, cache);
  const text = expandImages(
    chatFormat(tok, cfg).prompt(userText, images.length),
    images.map((im) => im.text),
  );
  const ids = tok.encode(text, { addSpecialTokens: false });
  checkIds(ids, tok, cfg, item);
  return { ids, patches: concat(images.map((im) => im.patches)), nImages: images.reduce((n, im) => n + im.tiles, 0) };
}

export async function encodePrompt(item: QAItem, tok: TextTokenizer, cfg: ModelConfig, o: PromptOptions = {}, cache?: PatchCache): Promise<EncodedPrompt> {
  return encodeUserTurn(promptText(item, o), item, tok, cfg, cache);
}

/** Prompt + SFT target + end of turn, with the loss on the target and the end-of-turn token. */
export async function encodeSftExample(item: QAItem, tok: TextTokenizer, cfg: ModelConfig, o: PromptOptions = {}, cache?: PatchCache): Promise<EncodedExample> {
  const p = await encodePrompt(item, tok, cfg, o, cache);
  const target = tok.encode(chatFormat(tok, cfg).reply(sftTarget(item)), { addSpecialTokens: false });
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
  const eos = new Set(endOfTurnIds(tok, cfg));
  // Idefics3's image-layout tokens (<fake_token_around_image>, <global-img>, <row_1_col_1>, ...) too.
  const layout = cfg.idefics3 ? [...tok.specialTokens.values()] : [];
  const ids = [
    ...layout,
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

/** The end-of-turn ids that stop generation: the chat format's (when `cfg` says which) and the tokenizer's EOS. */
export function endOfTurnIds(tok: TextTokenizer, cfg?: ModelConfig): number[] {
  const id = tok.tokenToId(cfg ? chatFormat(tok, cfg).endOfTurn : CHAT.end);
  return [...new Set([...(id !== undefined ? [id] : []), ...tok.eosIds])];
}
