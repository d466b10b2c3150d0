// Tokenizers from a Hugging Face folder (tokenizer.json, plus tokenizer_config.json and
// generation_config.json when present), run by @huggingface/tokenizers so that ids match what
// transformers produces. This file only adapts its API and fills in what the library leaves to
// the caller: the end-of-sequence ids and the list of special tokens.

import { Tokenizer } from '@huggingface/tokenizers';
import { InputError } from '../engine/errors';
import { MODEL_LIMITS } from '../model/config';
import { joinWhere, readJson, type FileSource } from './files';
import { idefics3ProcessorFromJson, type Idefics3ProcessorConfig } from './idefics3-processor';

export interface TextTokenizer {
  /** Token ids of `text`; `addSpecialTokens` (default true) applies the post-processor (e.g. BOS). */
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  decode(ids: ArrayLike<number>, opts?: { skipSpecialTokens?: boolean }): string;
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
  /** Rows the embedding needs: one more than the largest id, added tokens included. */
  vocabSize: number;
  /** Ids that end generation: tokenizer_config's eos_token and generation_config's eos_token_id. */
  eosIds: number[];
  bosId?: number;
  padId?: number;
  /** Every added token marked special, content -> id. */
  specialTokens: Map<string, number>;
  chatTemplate?: string;
  /**
   * An Idefics3 (SmolVLM) folder's image processor (preprocessor_config.json + processor_config.json).
   * transformers bundles tokenizer and image processor into one Processor; the lab's tokenizer is
   * what every stage already passes along with a model, so the image processor rides with it.
   */
  imageProcessor?: Idefics3ProcessorConfig;
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** tokenizer_config.json names special tokens either as strings or as AddedToken objects. */
const tokenContent = (v: unknown): string | undefined => (typeof v === 'string' ? v : isObj(v) && typeof v.content === 'string' ? v.content : undefined);

/** Model types the library builds; any other "type" it would quietly run as a legacy word-level model. */
const MODEL_TYPES = ['BPE', 'WordPiece', 'Unigram'];
const tokenIdOk = (id: unknown) => typeof id === 'number' && Number.isSafeInteger(id) && id >= 0 && id < MODEL_LIMITS.vocabSize;
const ID_RANGE = `ids must be integers from 0 to ${MODEL_LIMITS.vocabSize - 1} (an embedding has one row per id)`;

/** The model block: a type the library runs, and ids an embedding can have. */
function checkModel(model: Json, where: string): void {
  const type = model.type;
  if (type !== undefined && !MODEL_TYPES.includes(type as string))
    throw new InputError(where, `model.type ${JSON.stringify(type)} is not supported (${MODEL_TYPES.join(', ')})`);
  const vocab = model.vocab;
  if (vocab === undefined) return;
  if (type === 'Unigram' || (type === undefined && Array.isArray(vocab))) {
    if (!Array.isArray(vocab) || !vocab.every((p) => Array.isArray(p) && typeof p[0] === 'string' && typeof p[1] === 'number')) {
      throw new InputError(where, 'model.vocab must be a list of [piece, score] pairs for a Unigram model');
    }
    if (vocab.length > MODEL_LIMITS.vocabSize)
      throw new InputError(where, `model.vocab has ${vocab.length} pieces, above the limit of ${MODEL_LIMITS.vocabSize}`);
    return;
  }
  if (!isObj(vocab)) throw new InputError(where, 'model.vocab must be an object of token -> id');
  for (const [token, id] of Object.entries(vocab))
    if (!tokenIdOk(id)) throw new InputError(where, `model.vocab ${JSON.stringify(token)} has id ${JSON.stringify(id)}: ${ID_RANGE}`);
}

/** Build a tokenizer from parsed JSON. `where` names the folder in errors. */
export function tokenizerFromJson(tokenizerJson: unknown, tokenizerConfig: unknown, where: string, generationConfig?: unknown): TextTokenizer {
  const tjWhere = joinWhere(where, 'tokenizer.json');
  if (!isObj(tokenizerJson)) throw new InputError(tjWhere, 'must be a JSON object');
  if (!isObj(tokenizerJson.model)) throw new InputError(tjWhere, 'has no "model" object');
  checkModel(tokenizerJson.model, tjWhere);
  const added = tokenizerJson.added_tokens ?? [];
  if (!Array.isArray(added) || !added.every((t) => isObj(t) && typeof t.content === 'string' && Number.isSafeInteger(t.id) && (t.id as number) >= 0)) {
    throw new InputError(tjWhere, 'added_tokens must be a list of {id, content, ...} objects');
  }
  for (const t of added as Json[])
    if (!tokenIdOk(t.id)) throw new InputError(tjWhere, `added_tokens: ${JSON.stringify(t.content)} has id ${t.id}: ${ID_RANGE}`);
  const config: Json = isObj(tokenizerConfig) ? { ...tokenizerConfig } : {};
  // The library requires these keys to exist even when null, as the Rust serializer always writes them.
  const tj: Json = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...tokenizerJson, added_tokens: added };
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(tj, config);
    // The library reads the post-processor and decoder only on first use; using them once now
    // turns a broken one into an error at load rather than in the middle of a run.
    const ids = tok.encode('', { add_special_tokens: true }).ids;
    const anyId = tok.get_vocab(true).values().next().value;
    const probe = ids.length ? ids : anyId === undefined ? [] : [anyId];
    if (probe.length) tok.decode(probe, { skip_special_tokens: false });
  } catch (e) {
    throw new InputError(tjWhere, `could not build the tokenizer: ${(e as Error).message}`);
  }
  /** A failure inside the library on some text is the file's problem, named as such. */
  const guard = <T>(what: string, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof InputError) throw e;
      throw new InputError(tjWhere, `cannot ${what}: ${(e as Error).message}`);
    }
  };

  const vocab = tok.get_vocab(true);
  let maxId = -1;
  for (const id of vocab.values()) if (id > maxId) maxId = id;
  const specialTokens = new Map<string, number>();
  for (const t of added as Json[]) if (t.special === true) specialTokens.set(t.content as string, t.id as number);

  const idOf = (key: string): number | undefined => {
    const c = tokenContent(config[key]);
    if (c === undefined) return undefined;
    const id = tok.token_to_id(c);
    if (id === undefined) throw new InputError(joinWhere(where, 'tokenizer_config.json'), `${key} "${c}" is not in the vocabulary`);
    return id;
  };
  const eosIds: number[] = [];
  const eos = idOf('eos_token');
  if (eos !== undefined) eosIds.push(eos);
  if (isObj(generationConfig)) {
    const g = generationConfig.eos_token_id;
    for (const id of Array.isArray(g) ? g : g === undefined || g === null ? [] : [g]) {
      if (!Number.isSafeInteger(id) || id < 0)
        throw new InputError(joinWhere(where, 'generation_config.json'), `eos_token_id must be token ids, got ${JSON.stringify(g)}`);
      if (!eosIds.includes(id)) eosIds.push(id);
    }
  }
  // transformers made false the default of clean_up_tokenization_spaces; the library still
  // defaults to true, which would rewrite " ." to "." and break round trips.
  const cleanUp = config.clean_up_tokenization_spaces === true;
  const tmpl = config.chat_template;

  return {
    encode(text, opts = {}) {
      const ids = guard(`encode ${JSON.stringify(text.slice(0, 60))}`, () => tok.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids);
      // The library leaves a hole (undefined) where a vocabulary without an unknown token has no piece.
      if (!ids.every((id) => Number.isInteger(id))) {
        throw new InputError(
          tjWhere,
          `cannot encode ${JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}...` : text)}: part of it has no token in the vocabulary and there is no unk_token`,
        );
      }
      return ids;
    },
    decode(ids, opts = {}) {
      // Ids without a token (an embedding padded past the tokenizer's vocabulary) are skipped,
      // as the Rust tokenizers library does.
      const list = Array.from(ids).filter((id) => tok.id_to_token(id) !== undefined);
      if (list.length === 0) return '';
      return guard('decode', () => tok.decode(list, { skip_special_tokens: opts.skipSpecialTokens ?? false, clean_up_tokenization_spaces: cleanUp }));
    },
    tokenToId: (t) => tok.token_to_id(t),
    idToToken: (id) => tok.id_to_token(id),
    vocabSize: maxId + 1,
    eosIds,
    bosId: idOf('bos_token'),
    padId: idOf('pad_token'),
    specialTokens,
    chatTemplate: typeof tmpl === 'string' ? tmpl : undefined,
  };
}

/**
 * The files of a model folder that are not weights or config.json but travel with the model: the
 * tokenizer, its chat template and (Idefics3) the image processor. Copied into every checkpoint.
 */
export const TOKENIZER_FILES: readonly string[] = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'vocab.json',
  'merges.txt',
  'chat_template.json',
  'chat_template.jinja',
  'preprocessor_config.json',
  'processor_config.json',
];

/** Load the tokenizer of a Hugging Face folder. Without tokenizer.json there is nothing to run. */
export async function loadTokenizer(src: FileSource, where: string = src.name): Promise<TextTokenizer> {
  if (!(await src.exists('tokenizer.json'))) throw new InputError(where, 'no tokenizer.json in this folder');
  const tj = await readJson(src, 'tokenizer.json', where);
  const cfg = (await src.exists('tokenizer_config.json')) ? await readJson(src, 'tokenizer_config.json', where) : {};
  const gen = (await src.exists('generation_config.json')) ? await readJson(src, 'generation_config.json', where) : undefined;
  const tok = tokenizerFromJson(tj, cfg, where, gen);
  // Multimodal checkpoints keep the template beside the tokenizer (chat_template.json or .jinja).
  if (!tok.chatTemplate && (await src.exists('chat_template.json'))) {
    const ct = await readJson(src, 'chat_template.json', where);
    const t = (ct as Record<string, unknown>)?.chat_template;
    if (typeof t !== 'string') throw new InputError(joinWhere(where, 'chat_template.json'), 'chat_template must be a string');
    tok.chatTemplate = t;
  } else if (!tok.chatTemplate && (await src.exists('chat_template.jinja'))) {
    tok.chatTemplate = new TextDecoder().decode(await src.read('chat_template.jinja'));
  }
  if (await src.exists('preprocessor_config.json')) {
    const pre = await readJson(src, 'preprocessor_config.json', where);
    const proc = (await src.exists('processor_config.json')) ? await readJson(src, 'processor_config.json', where) : undefined;
    // Only Idefics3's image processor is read; another model type's is not the lab's to interpret.
    const type = (pre as Record<string, unknown>)?.image_processor_type;
    if (type === undefined || type === 'Idefics3ImageProcessor' || type === 'SmolVLMImageProcessor') {
      tok.imageProcessor = idefics3ProcessorFromJson(pre, joinWhere(where, 'preprocessor_config.json'), proc, joinWhere(where, 'processor_config.json'));
    }
  }
  return tok;
}
