// Tiny lab models for evaluation and curation tests: a BPE tokenizer trained on a few texts and a
// small VLM from initWeights, saved as a checkpoint folder. The "scripted" variant edits the random
// weights so that the response is known in advance: with every block's output projections zeroed
// the residual stream at a position is just that token's embedding, so the untied head maps each
// token to the next one. Chain tokens get orthogonal embeddings and head rows that spell
// `<think>x</think><answer>L</answer><|im_end|>`, where L is A or B: greedy always picks A, and
// sampling at temperature 1 picks A with probability pA.

import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LAB_SPECIAL_TOKENS, trainByteLevelBpe } from '../../src/io/bpe-trainer';
import { tokenizerFromJson, type TextTokenizer } from '../../src/io/tokenizer';
import type { ModelConfig } from '../../src/model/config';
import { initWeights, type WeightMap } from '../../src/model/model';
import { saveCheckpoint } from '../../src/node/checkpoint';
import { promptText } from '../../src/task/prompt';
import { CHAT, chatPrompt } from '../../src/io/chat';

// Whole chat prompts, so that the instruction and the chat scaffolding merge into few tokens: short
// prompts keep prefill cheap on SwiftShader.
const CORPUS = [
  'Is there evidence of an aortic aneurysm?',
  'Is this an axial plane?',
  'Is there a rib fracture?',
  'Which organ is abnormal, heart or lung?',
  'Are the kidneys normal in this image?',
  'Is the lesion on the left or right side?',
].map((question) => chatPrompt(promptText({ question, options: { A: 'Yes', B: 'No' } }), 0, 0) + scriptedResponse('A'));

export interface TinyModel {
  dir: string;
  cfg: ModelConfig;
  tok: TextTokenizer;
  weights: WeightMap;
}

/** The tokenizer every tiny model here uses. */
export function tinyTokenizer() {
  const bpe = trainByteLevelBpe(CORPUS, { vocabSize: 600, specialTokens: [...LAB_SPECIAL_TOKENS], eosToken: CHAT.end });
  const tok = tokenizerFromJson(bpe.tokenizerJson, bpe.tokenizerConfig, 'test tokenizer');
  return { bpe, tok };
}

export function tinyConfig(tok: TextTokenizer): ModelConfig {
  return {
    text: {
      architecture: 'llama',
      vocabSize: tok.vocabSize,
      hiddenSize: 32,
      intermediateSize: 64,
      numLayers: 1,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 8,
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
      maxPositionEmbeddings: 320,
      tieWordEmbeddings: false,
      qkvBias: false,
      oBias: false,
      mlpBias: false,
      eosTokenId: [tok.tokenToId(CHAT.end)!],
    },
    vision: { imageSize: 16, patchSize: 8, channels: 1, hiddenSize: 16, intermediateSize: 32, numLayers: 1, numHeads: 2, rmsNormEps: 1e-5 },
    imageTokenId: tok.tokenToId(CHAT.image)!,
  };
}

/** The last token of every chat prompt (the newline after "assistant"). */
export function promptEndToken(tok: TextTokenizer): number {
  const ids = tok.encode(chatPrompt('q', 0, 0), { addSpecialTokens: false });
  return ids[ids.length - 1];
}

export function scriptedResponse(letter: string) {
  return `<think>x</think><answer>${letter}</answer>`;
}

/** Edit random weights into the scripted model (see the file comment). */
export function scriptWeights(cfg: ModelConfig, w: WeightMap, tok: TextTokenizer, pA: number) {
  const d = cfg.text.hiddenSize;
  for (let l = 0; l < cfg.text.numLayers; l++) {
    w.get(`model.layers.${l}.self_attn.o_proj.weight`)!.data.fill(0);
    w.get(`model.layers.${l}.mlp.down_proj.weight`)!.data.fill(0);
  }
  const id = (t: string) => {
    const ids = tok.encode(t, { addSpecialTokens: false });
    if (ids.length !== 1) throw new Error(`"${t}" is not one token: ${ids}`);
    return ids[0];
  };
  const [think, thinkEnd, ans, ansEnd, end] = ['<think>', '</think>', '<answer>', '</answer>', CHAT.end].map(id);
  const x = id('x'),
    A = id('A'),
    B = id('B');
  const start = promptEndToken(tok);
  const sources = [start, think, x, thinkEnd, ans, A, B, ansEnd];
  if (new Set(sources).size !== sources.length) throw new Error('chain tokens collide');
  const E = w.get('model.embed_tokens.weight')!.data;
  const H = w.get('lm_head.weight')!.data;
  H.fill(0);
  // After RMSNorm (weight 1) a one-hot embedding row becomes sqrt(d) on its axis; a head row of M
  // on that axis gives the next token a logit of M*sqrt(d), far above the zero logits of the rest.
  const M = 8;
  sources.forEach((s, axis) => {
    E.fill(0, s * d, (s + 1) * d);
    E[s * d + axis] = 1;
  });
  const next = (axis: number, target: number, m = M) => {
    H[target * d + axis] += m;
  };
  next(0, think);
  next(1, x);
  next(2, thinkEnd);
  next(3, ans);
  // <answer> -> A or B, their logits apart by ln(pA / (1 - pA)).
  const gap = Math.log(pA / (1 - pA)) / Math.sqrt(d);
  next(4, A, M);
  next(4, B, M - gap);
  next(5, ansEnd);
  next(6, ansEnd);
  next(7, end);
}

/** Build, save and return a tiny model; scripted with `pA` when given, else plain random weights. */
export async function tinyModel(opts: { seed?: number; pA?: number; dir?: string } = {}): Promise<TinyModel> {
  const { bpe, tok } = tinyTokenizer();
  const cfg = tinyConfig(tok);
  const weights = initWeights(cfg, opts.seed ?? 1);
  if (opts.pA !== undefined) scriptWeights(cfg, weights, tok, opts.pA);
  const dir = opts.dir ?? path.join(await mkdtemp(path.join(os.tmpdir(), 'thinker-eval-')), 'model');
  await saveCheckpoint(dir, cfg, weights, {
    'tokenizer.json': JSON.stringify(bpe.tokenizerJson),
    'tokenizer_config.json': JSON.stringify(bpe.tokenizerConfig),
  });
  return { dir, cfg, tok, weights };
}
