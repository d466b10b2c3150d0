// SmolVLM (Idefics3) as the recipe uses it: the chat template its checkpoints ship, and a
// SmolVLM-shaped tiny model (the same files and the same code path as HuggingFaceTB/SmolVLM-256M-
// Instruct, with tiny dimensions and random weights) so LoRA SFT and GRPO on the SmolVLM path can be
// tried, tested and taught without downloading 1 GB of weights.
import { trainByteLevelBpe } from '../io/bpe-trainer';
import { saveHfFolder } from '../io/hf-config';
import { MemoryWorkspace } from '../io/workspace';
import type { ModelConfig } from '../model/config';
import { initWeights } from '../model/model';
import type { QAItem } from '../task/schema';
import { promptText, sftTarget } from '../task/prompt';

/**
 * SmolVLM-Instruct's chat template (its chat_template.json): `User:`/`Assistant:` turns closed by
 * `<end_of_utterance>`, images as `<image>` before the text. A loaded checkpoint's own template is
 * what the lab runs; this copy serves the tiny model.
 */
export const SMOLVLM_CHAT_TEMPLATE =
  "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}" +
  "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}" +
  "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}";

/** The tiny model's tile grid: images are resized to at most TILE·GRID a side, so at most GRID x GRID tiles plus the global view. */
const TILE = 32;
const GRID = 2;

/** Special tokens of SmolVLM's tokenizer that the lab's prompts use, plus the recipe's tags. */
export function smolvlmSpecialTokens(grid = GRID): string[] {
  const rows: string[] = [];
  for (let r = 1; r <= grid; r++) for (let c = 1; c <= grid; c++) rows.push(`<row_${r}_col_${c}>`);
  return [
    '<|im_start|>',
    '<end_of_utterance>',
    '<|endoftext|>',
    '<image>',
    '<fake_token_around_image>',
    '<global-img>',
    ...rows,
    '<think>',
    '</think>',
    '<answer>',
    '</answer>',
  ];
}

/** SmolVLM-256M's shape at toy size: SigLIP 32px tiles of 8px patches, pixel shuffle 2 (4 tokens a tile), a 2-layer Llama. */
export function tinySmolvlmConfig(vocabSize: number, imageTokenId: number): ModelConfig {
  return {
    text: {
      architecture: 'llama',
      vocabSize,
      hiddenSize: 64,
      intermediateSize: 128,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 16,
      rmsNormEps: 1e-5,
      ropeTheta: 100000,
      maxPositionEmbeddings: 512,
      tieWordEmbeddings: false,
      qkvBias: false,
      oBias: false,
      mlpBias: false,
    },
    idefics3: {
      imageSize: TILE,
      patchSize: 8,
      channels: 3,
      hiddenSize: 32,
      intermediateSize: 64,
      numLayers: 2,
      numHeads: 2,
      layerNormEps: 1e-6,
      scaleFactor: 2,
    },
    imageTokenId,
  };
}

/**
 * The files of a SmolVLM-shaped tiny model: config.json and model.safetensors in the checkpoint
 * layout, a byte-level BPE tokenizer trained on `items` (SmolVLM's special tokens, end of turn
 * `<end_of_utterance>`), the chat template, and an Idefics3 image processor scaled to its tiles.
 */
export async function tinySmolvlmFiles(items: QAItem[], o: { seed?: number; vocabSize?: number } = {}): Promise<Map<string, Uint8Array>> {
  const specials = smolvlmSpecialTokens();
  const corpus = items.map((it) => `User:${promptText(it)}<end_of_utterance>\nAssistant: ${sftTarget(it)}<end_of_utterance>\n`);
  const bpe = trainByteLevelBpe(corpus, { vocabSize: o.vocabSize ?? 384, specialTokens: specials, eosToken: '<end_of_utterance>', padToken: '<|endoftext|>' });
  const added = (bpe.tokenizerJson.added_tokens as { content: string; id: number }[]) ?? [];
  const imageId = added.find((t) => t.content === '<image>')!.id;
  const cfg = tinySmolvlmConfig(bpe.vocabSize, imageId);
  cfg.text.eosTokenId = [added.find((t) => t.content === '<end_of_utterance>')!.id];
  cfg.text.padTokenId = added.find((t) => t.content === '<|endoftext|>')!.id;
  const ws = new MemoryWorkspace('smolvlm-tiny');
  const json = (v: unknown) => JSON.stringify(v, null, 2);
  await saveHfFolder(ws, cfg, initWeights(cfg, o.seed ?? 0), {
    'tokenizer.json': JSON.stringify(bpe.tokenizerJson),
    'tokenizer_config.json': json({ ...bpe.tokenizerConfig, chat_template: SMOLVLM_CHAT_TEMPLATE }),
    'preprocessor_config.json': json({
      image_processor_type: 'Idefics3ImageProcessor',
      do_convert_rgb: true,
      do_resize: true,
      size: { longest_edge: TILE * GRID },
      resample: 1,
      do_image_splitting: true,
      max_image_size: { longest_edge: TILE },
      do_rescale: true,
      rescale_factor: 1 / 255,
      do_normalize: true,
      image_mean: [0.5, 0.5, 0.5],
      image_std: [0.5, 0.5, 0.5],
      do_pad: true,
    }),
    'processor_config.json': json({ image_seq_len: 4, processor_class: 'Idefics3Processor' }),
  });
  return ws.files;
}
