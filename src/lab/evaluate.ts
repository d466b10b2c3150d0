// Evaluation on benchmarks (src/eval/run.ts over items from DataRefs) and asking a model one
// question, with the answer streamed as it is decoded.
import { InputError } from '../engine/errors';
import { bytesRef } from '../data/loaders/common';
import type { QAItem } from '../task/schema';
import { runEval, type BenchmarkInput } from '../eval/run';
import { generate } from '../model/generate';
import { hasVision } from '../model/config';
import { encodeImages, encodeUserTurn, endOfTurnIds, responseBannedIds } from '../task/encode';
import { promptText } from '../task/prompt';
import { askVerdict } from '../task/reward';
import type { AskRequest, EngineApi, EvaluateRequest } from './api';
import type { LabContext } from './context';
import { progressReporter } from '../util/progress';
import { resolveItems } from '../data/store';
import { readModelConfig, requireModel } from './models';
import { cancelled } from '../engine/errors';

type Calls = Pick<EngineApi, 'evaluate' | 'ask'>;

const posInt = (where: string, v: unknown, min = 1) => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new InputError(where, `must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return v;
};

/** Tokens decoded between two looks at the answer so far: a few, so the text grows smoothly. */
const STREAM_EVERY = 4;

/** The user turn of a question: the recipe prompt (§3) for a multiple-choice question when asked for, else the question as typed (with its options listed). */
export function askText(req: Pick<AskRequest, 'question' | 'options' | 'recipePrompt' | 'newline'>): string {
  if (req.options && req.recipePrompt) return promptText({ question: req.question, options: req.options }, { newline: req.newline ?? 'literal' });
  if (!req.options) return req.question;
  return `${req.question}\n\n${Object.entries(req.options)
    .map(([k, v]) => `${k}. ${v}`)
    .join('\n')}`;
}

function checkAsk(req: AskRequest) {
  if (typeof req.question !== 'string' || req.question.trim() === '') throw new InputError('ask.question', 'the question is empty');
  if (req.options !== undefined) {
    const o = req.options;
    if (!o || typeof o !== 'object' || Array.isArray(o) || Object.keys(o).length === 0)
      throw new InputError('ask.options', 'must be an object of letter -> option text with at least one option');
    for (const [k, v] of Object.entries(o)) {
      if (!/^[A-Z]$/.test(k)) throw new InputError('ask.options', `option key ${JSON.stringify(k)} is not a capital letter`);
      if (typeof v !== 'string' || v.trim() === '') throw new InputError('ask.options', `option ${k} is empty`);
    }
  }
  posInt('ask.maxNewTokens', req.maxNewTokens);
  if (typeof req.temperature !== 'number' || !(req.temperature >= 0) || !Number.isFinite(req.temperature)) {
    throw new InputError('ask.temperature', `must be a number >= 0 (0 = greedy), got ${JSON.stringify(req.temperature)}`);
  }
  if (req.seed !== undefined) posInt('ask.seed', req.seed, 0);
  checkNewline('ask.newline', req.newline);
  if (req.image !== undefined && !(req.image instanceof Uint8Array)) throw new InputError('ask.image', 'must be the bytes of a PNG or JPEG file');
}

function checkNewline(where: string, v: unknown) {
  if (v !== undefined && v !== 'literal' && v !== 'real') throw new InputError(where, `must be "literal" or "real", got ${JSON.stringify(v)}`);
}

export function evalApi(ctx: LabContext): Calls {
  const ws = ctx.ws;
  return {
    async evaluate(req: EvaluateRequest, onProgress, onRecord) {
      await requireModel(ws, req.model);
      if (!Array.isArray(req.benchmarks) || req.benchmarks.length === 0) throw new InputError('evaluate.benchmarks', 'no benchmarks to evaluate');
      posInt('evaluate.limit', req.limit, 0);
      posInt('evaluate.maxNewTokens', req.maxNewTokens);
      checkNewline('evaluate.newline', req.newline);
      if (req.n !== undefined) posInt('evaluate.n', req.n);
      if (req.batchSize !== undefined) posInt('evaluate.batchSize', req.batchSize);
      if (req.seed !== undefined) posInt('evaluate.seed', req.seed, 0);
      return ctx.exclusive('evaluation', async (signal) => {
        const sets: BenchmarkInput[] = [];
        for (const [i, b] of req.benchmarks.entries()) {
          onProgress?.({ phase: `reading ${b?.name ?? 'benchmarks'}`, done: i, total: req.benchmarks.length });
          if (typeof b?.name !== 'string' || b.name === '') throw new InputError(`evaluate.benchmarks[${i}].name`, 'must be a non-empty name');
          sets.push({ name: b.name, items: await resolveItems(ws, b.data, `evaluate.benchmarks[${i}].data`) });
        }
        onProgress?.({ phase: 'loading the model', done: 0, total: 0 });
        const { model, tok } = await ctx.loadModel(req.model);
        // One clock for all benchmarks: the count runs on across them.
        const report = progressReporter(onProgress, 100, () => 'evaluating');
        let last = { done: 0, total: 0 };
        let res;
        try {
          res = await runEval(model, tok, sets, {
            limit: req.limit || undefined,
            n: req.n,
            maxNewTokens: req.maxNewTokens,
            batchSize: req.batchSize,
            seed: req.seed,
            signal,
            onRecord,
            prompt: { newline: req.newline ?? 'literal' },
            onProgress: (p) => {
              last = p;
              report({ phase: `evaluating ${p.benchmark}`, done: p.done, total: p.total });
            },
          });
        } catch (e) {
          if (signal.aborted) throw cancelled('evaluation');
          throw e;
        }
        // Items that did not fit the context are graded without decoding and report no progress.
        if (last.done < last.total || last.total === 0) onProgress?.({ phase: 'evaluation done', done: last.total, total: last.total, etaSeconds: 0 });
        const bs = res.summary.benchmarks;
        return {
          benchmarks: bs,
          average: { accuracy: res.summary.average.accuracy, items: bs.reduce((a, b) => a + b.items, 0) },
          records: res.records,
        };
      });
    },

    async ask(req, onToken) {
      checkAsk(req);
      const path = await requireModel(ws, req.model);
      const cfg = await readModelConfig(ws, path);
      const item: QAItem = {
        images: req.image ? [bytesRef('the image', req.image)] : [],
        question: req.question,
        options: req.options ?? {},
        answer_label: '',
        answer: '',
        dataset_name: 'question',
        dataset_index: 0,
        hash: '',
      };
      if (req.image && (!hasVision(cfg) || cfg.imageTokenId === undefined)) {
        throw new InputError(path, 'this model has no vision encoder, so it cannot look at an image: ask without the image, or pick a vision-language model');
      }
      // Decoded and resized to the model's input before the GPU is touched, so a bad file fails first.
      // Lab-model images decode before the GPU is touched; Idefics3's need the folder's processor, read with the tokenizer.
      if (!cfg.idefics3) await encodeImages(item, cfg);
      return ctx.exclusive('answering a question', async (signal) => {
        const { model, tok } = await ctx.loadModel(path);
        const { ids, patches, nImages } = await encodeUserTurn(askText(req), item, tok, cfg);
        const room = cfg.text.maxPositionEmbeddings - ids.length;
        if (room < 1)
          throw new InputError('ask.question', `the prompt is ${ids.length} tokens, which fills the model's context of ${cfg.text.maxPositionEmbeddings}`);
        const eos = endOfTurnIds(tok, cfg);
        const eosSet = new Set(eos);
        const body = (seq: number[]) => (seq.length && eosSet.has(seq[seq.length - 1]) ? seq.slice(0, -1) : seq);
        let shown = '';
        const show = (text: string) => {
          if (text !== shown) {
            shown = text;
            onToken?.(text);
          }
        };
        let res;
        try {
          res = await generate(
            model,
            [ids],
            {
              maxNewTokens: Math.min(req.maxNewTokens, room),
              greedy: req.temperature === 0,
              temperature: req.temperature || 1,
              topP: 1,
              seed: req.seed ?? 0,
              eosIds: eos,
              bannedIds: responseBannedIds(tok, cfg),
              syncEvery: STREAM_EVERY,
              signal,
              // A partial multi-byte character decodes to U+FFFD until its last byte arrives; it is held back.
              onTokens: (t) => show(tok.decode(body(t[0]), { skipSpecialTokens: false }).replace(/\uFFFD+$/, '')),
            },
            nImages ? { patches, nImages } : undefined,
          );
        } catch (e) {
          if (signal.aborted) throw cancelled('answering');
          throw e;
        }
        const out = res.ids[0];
        const text = tok.decode(body(out), { skipSpecialTokens: false });
        show(text);
        return { text, tokens: out.length, ...(req.options ? askVerdict(text, req.options) : {}) };
      });
    },
  };
}
