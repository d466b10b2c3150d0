import type { Command } from 'commander';
import { createNodeGpu } from '../../node/dawn';
import { loadModel } from '../../node/checkpoint';
import { loadTokenizer } from '../../io/tokenizer';
import { nodeDirSource } from '../../io/workspace';
import { generate } from '../../model/generate';
import { InputError } from '../../engine/errors';
import { idList, intOpt, numOpt } from '../args';

interface GenerateCliOptions {
  model: string;
  promptIds?: string;
  prompt?: string;
  maxNewTokens: string;
  greedy?: boolean;
  temperature: string;
  topP: string;
  seed: string;
  json?: boolean;
  stopAtEos?: boolean;
  kvCache?: string;
}

/**
 * `thinker generate`: load a Hugging Face folder, feed a prompt, decode with the KV cache.
 * Contract other checks rely on: with --json, one JSON object whose `ids` lists the generated ids.
 */
export function registerGenerate(program: Command) {
  program
    .command('generate')
    .description('decode tokens from a Hugging Face model folder (KV cache, sampling on the GPU)')
    .requiredOption('--model <dir>', 'model folder (config.json + model.safetensors)')
    .option('--prompt-ids <ids>', 'comma-separated prompt token ids')
    .option('--prompt <text>', 'prompt text (needs tokenizer.json in the folder)')
    .option('--max-new-tokens <n>', 'tokens to generate', '32')
    .option('--greedy', 'greedy decoding (argmax)')
    .option('--temperature <t>', 'sampling temperature', '1')
    .option('--top-p <p>', 'nucleus sampling mass', '1')
    .option('--seed <n>', 'sampling seed', '0')
    .option('--stop-at-eos', "stop at the model's end-of-sequence ids")
    .option('--kv-cache <dtype>', 'KV cache precision, f32 or f16 (default: f16 on a GPU, f32 on a CPU adapter)')
    .option('--json', 'print one JSON object')
    .action(async (o: GenerateCliOptions) => {
      if (!o.promptIds === !o.prompt) throw new InputError('generate', 'give exactly one of --prompt-ids or --prompt');
      const n = intOpt('max-new-tokens', o.maxNewTokens, 0);
      const temperature = numOpt('temperature', o.temperature, 1e-4, 100);
      const topP = numOpt('top-p', o.topP, 1e-6, 1);
      const seed = intOpt('seed', o.seed, 0);
      if (o.kvCache !== undefined && o.kvCache !== 'f32' && o.kvCache !== 'f16')
        throw new InputError('--kv-cache', `expected f32 or f16, got ${JSON.stringify(o.kvCache)}`);
      const kvCache = o.kvCache as 'f32' | 'f16' | undefined;
      // The tokenizer first: a missing tokenizer.json is reported before any weights are read.
      const src = nodeDirSource(o.model);
      const tok =
        o.prompt !== undefined
          ? await loadTokenizer(src, o.model)
          : (await src.exists('tokenizer.json'))
            ? await loadTokenizer(src, o.model).catch(() => null)
            : null;
      const gpu = await createNodeGpu();
      const { model } = await loadModel(gpu, o.model);
      const prompt = o.promptIds ? idList('prompt-ids', o.promptIds) : tok!.encode(o.prompt!);
      const t0 = performance.now();
      const res = await generate(model, [prompt], {
        maxNewTokens: n,
        greedy: !!o.greedy,
        temperature,
        topP,
        seed,
        kvCache,
        eosIds: o.stopAtEos ? (model.cfg.text.eosTokenId ?? tok?.eosIds ?? []) : [],
      });
      const seconds = (performance.now() - t0) / 1000;
      const ids = res.ids[0];
      const text = tok ? tok.decode(ids) : undefined;
      if (o.json) {
        console.log(JSON.stringify({ ids, text, prompt_ids: prompt, logprobs: res.logps[0], seconds, tokens_per_s: ids.length / seconds }));
      } else {
        console.log(text ?? ids.join(','));
        console.error(
          `${ids.length} tokens in ${seconds.toFixed(2)} s (${(ids.length / seconds).toFixed(1)} tokens/s) on ${gpu.info.description || gpu.info.vendor}`,
        );
      }
      model.release();
      gpu.destroy();
    });
}
