// `thinker ask "question"`: one answer from a lab model (--backend lab, the engine on Dawn) or a
// pretrained model run by transformers.js (--backend transformers: a hub id, a mirror URL, or a
// local folder such as an export-onnx output), optionally about an image, streamed to stdout.
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { InputError } from '../../engine/errors';
import { nodeDirSource } from '../../io/workspace';
import { loadTokenizer } from '../../io/tokenizer';
import { createNodeGpu } from '../../node/dawn';
import { loadModel } from '../../node/checkpoint';
import { generate } from '../../model/generate';
import { hasVision } from '../../model/config';
import { bytesRef } from '../../data/loaders/common';
import type { QAItem } from '../../task/schema';
import { gradeAnswer } from '../../task/grader';
import { encodeUserTurn, endOfTurnIds, responseBannedIds } from '../../task/encode';
import { checkFormat } from '../../task/reward';
import { askText } from '../../task/prompt';
import type { PretrainedAskReply } from '../../pretrained/backend';
import { intOpt, numOpt } from '../args';

export interface AskCliOptions {
  backend: string;
  model: string;
  endpoint?: string;
  image?: string;
  option?: string[];
  recipePrompt?: boolean;
  maxNewTokens: string;
  temperature: string;
  topP: string;
  seed: string;
  dtype?: string;
  offline?: boolean;
  cacheDir?: string;
  newline: string;
  json?: boolean;
  quiet?: boolean;
}

/** "A=Yes" -> ["A", "Yes"]; letters must be capitals, each once. */
export function parseOptionList(list: string[] | undefined): Record<string, string> | undefined {
  if (!list || list.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const s of list) {
    const m = /^([A-Z])\s*[=:.]\s*(.+)$/.exec(s.trim());
    if (!m) throw new InputError('--option', `expected LETTER=text (e.g. A=Yes), got "${s}"`);
    if (m[1] in out) throw new InputError('--option', `option ${m[1]} is given twice`);
    out[m[1]] = m[2].trim();
  }
  return out;
}

/** The lab engine's answer, as the engine worker's ask gives it. */
async function askLab(
  o: AskCliOptions,
  question: string,
  options: Record<string, string> | undefined,
  image: Uint8Array | undefined,
  g: { maxNewTokens: number; temperature: number; topP: number; seed: number; recipePrompt: boolean; newline: 'literal' | 'real' },
  onText: (t: string) => void,
): Promise<PretrainedAskReply> {
  const tok = await loadTokenizer(nodeDirSource(o.model), o.model);
  const gpu = await createNodeGpu();
  const { model } = await loadModel(gpu, o.model);
  try {
    const cfg = model.cfg;
    if (image && (!hasVision(cfg) || cfg.imageTokenId === undefined))
      throw new InputError(o.model, 'this model has no vision encoder, so it cannot look at an image');
    const item: QAItem = {
      images: image ? [bytesRef(o.image!, image)] : [],
      question,
      options: options ?? {},
      answer_label: '',
      answer: '',
      dataset_name: 'question',
      dataset_index: 0,
      hash: '',
    };
    const text = askText({ question, options, recipePrompt: g.recipePrompt, prompt: { newline: g.newline } });
    const { ids, patches, nImages } = await encodeUserTurn(text, item, tok, cfg);
    const room = cfg.text.maxPositionEmbeddings - ids.length;
    if (room < 1) throw new InputError('question', `the prompt is ${ids.length} tokens, which fills the model's context of ${cfg.text.maxPositionEmbeddings}`);
    const eos = new Set(endOfTurnIds(tok, cfg));
    const body = (seq: number[]) => (seq.length && eos.has(seq[seq.length - 1]) ? seq.slice(0, -1) : seq);
    const res = await generate(
      model,
      [ids],
      {
        maxNewTokens: Math.min(g.maxNewTokens, room),
        greedy: g.temperature === 0,
        temperature: g.temperature || 1,
        topP: g.topP,
        seed: g.seed,
        eosIds: [...eos],
        bannedIds: responseBannedIds(tok, cfg),
        syncEvery: 4,
        onTokens: (t) => onText(tok.decode(body(t[0]), { skipSpecialTokens: false }).replace(/\uFFFD+$/, '')),
      },
      nImages ? { patches, nImages } : undefined,
    );
    const out = res.ids[0];
    const answer = tok.decode(body(out), { skipSpecialTokens: false });
    onText(answer);
    return { text: answer, tokens: out.length, finished: res.finished[0] };
  } finally {
    model.release();
    gpu.destroy();
  }
}

export async function askCommand(question: string, o: AskCliOptions): Promise<PretrainedAskReply> {
  if (typeof question !== 'string' || question.trim() === '') throw new InputError('question', 'the question is empty');
  if (o.backend !== 'lab' && o.backend !== 'transformers') throw new InputError('--backend', `must be lab or transformers, not "${o.backend}"`);
  if (o.newline !== 'literal' && o.newline !== 'real') throw new InputError('--newline', `must be literal or real, not "${o.newline}"`);
  const options = parseOptionList(o.option);
  if (o.recipePrompt && !options)
    throw new InputError('--recipe-prompt', 'the recipe prompt is for multiple-choice questions: give the options with --option A=... --option B=...');
  const g = {
    maxNewTokens: intOpt('max-new-tokens', o.maxNewTokens, 1),
    temperature: numOpt('temperature', o.temperature, 0, 100),
    topP: numOpt('top-p', o.topP, 1e-6, 1),
    seed: intOpt('seed', o.seed, 0),
    recipePrompt: !!o.recipePrompt,
    newline: o.newline as 'literal' | 'real',
  };
  const image = o.image
    ? new Uint8Array(
        await readFile(o.image).catch(() => {
          throw new InputError(o.image!, 'image file not found');
        }),
      )
    : undefined;
  // Stream the answer as it grows; with --json only the final object is printed. Leading
  // whitespace waits for the first visible character, so a blank answer prints no blank lines.
  let shown = '';
  const onText = (t: string) => {
    if (o.json || !t.startsWith(shown) || t.trim() === '') return;
    process.stdout.write(t.slice(shown.length));
    shown = t;
  };
  const log = o.quiet ? undefined : (s: string) => process.stderr.write(`${s}\n`);
  let reply: PretrainedAskReply;
  if (o.backend === 'lab') {
    if (o.endpoint || o.dtype || o.offline) throw new InputError('--backend lab', '--endpoint, --dtype and --offline are for --backend transformers');
    reply = await askLab(o, question, options, image, g, onText);
  } else {
    // transformers.js loads only for this backend: the runner starts without it (a GPU server's pack has none).
    const { openPretrained } = await import('../../pretrained/backend-node');
    const { backend } = await openPretrained({ model: o.model, endpoint: o.endpoint, dtype: o.dtype, offline: o.offline, cacheDir: o.cacheDir, log });
    try {
      reply = await backend.ask({ question, options, image, ...g, prompt: { newline: g.newline } }, onText);
    } finally {
      await backend.unload();
    }
  }
  if (options && reply.format === undefined) {
    reply.format = checkFormat(reply.text);
    reply.letter = gradeAnswer(reply.text, options, Object.keys(options)[0]).predLetter;
  }
  if (o.json) process.stdout.write(`${JSON.stringify(reply)}\n`);
  else {
    if (reply.text.trim() === '') throw new Error(`the model produced no text: ${blankAnswer(reply, g.maxNewTokens)}`);
    if (reply.text !== shown) process.stdout.write(shown === '' ? reply.text : `\n${reply.text}`);
    process.stdout.write('\n');
    const end = reply.finished ? 'ended by the model' : `cut at --max-new-tokens ${g.maxNewTokens}`;
    log?.(`ask: ${reply.tokens} tokens, ${end}${options ? `; format ${reply.format ? 'ok' : 'not followed'}; answer ${reply.letter ?? '(none)'}` : ''}`);
  }
  return reply;
}

/** What a blank answer was, for the error that replaces it. */
function blankAnswer(reply: PretrainedAskReply, maxNewTokens: number): string {
  if (reply.text === '')
    return reply.finished ? 'it ended its answer at once' : `${reply.tokens} tokens that decode to nothing, cut at --max-new-tokens ${maxNewTokens}`;
  return `${reply.tokens} tokens of whitespace, ${reply.finished ? 'then it ended its answer' : `cut at --max-new-tokens ${maxNewTokens}`}`;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function registerAsk(program: Command) {
  program
    .command('ask')
    .description(
      'answer one question (optionally about an image) with a lab model or a pretrained model through transformers.js; nothing leaves the machine but downloads from the model hub or mirror',
    )
    .argument('<question>', 'the question')
    .requiredOption('--model <folder-or-id>', 'lab: a model folder; transformers: a Hugging Face model id, or a folder (e.g. an export-onnx output)')
    .option('--backend <name>', 'lab (the engine) or transformers (ONNX Runtime on the CPU)', 'lab')
    .option('--endpoint <url>', 'Hugging Face Hub mirror (transformers; default https://huggingface.co)')
    .option('--image <file>', 'a PNG or JPEG the question is about')
    .option('--option <L=text>', 'a multiple-choice option, repeatable: --option A=Yes --option B=No', collect)
    .option('--recipe-prompt', 'wrap the question in the recipe prompt so the model answers with think/answer tags (needs --option)')
    .option('--newline <kind>', "the recipe instruction's \\n: literal (the paper's code) or real", 'literal')
    .option('--max-new-tokens <n>', 'answer budget', '512')
    .option('--temperature <t>', '0 = greedy', '0')
    .option('--top-p <p>', 'nucleus mass when sampling', '1')
    .option('--seed <n>', 'sampling seed', '0')
    .option('--dtype <dtype>', "transformers: fp32, fp16, q4, q4f16 or q8 (default: the model's own or the catalog choice)")
    .option('--offline', 'transformers: use only the download cache')
    .option('--cache-dir <dir>', 'transformers: where downloads are kept (default ~/.cache/thinker/transformers or $THINKER_MODEL_CACHE)')
    .option('--json', 'print one JSON object {text, tokens, finished, format, letter}')
    .option('--quiet', 'no progress on stderr')
    .action(async (question: string, o: AskCliOptions) => {
      await askCommand(question, o);
    });
}
