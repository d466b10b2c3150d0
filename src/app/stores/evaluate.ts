// Benchmark evaluation of a lab model (engine worker) or the loaded pretrained model (pretrained
// worker, the same runner and grader): the request, graded records as they arrive, the table.
import { create } from 'zustand';
import type { EvaluateReply, EvaluateRequest, Progress } from '../../lab/api';
import type { EvalRecord } from '../../eval/run';
import type { PretrainedEvaluateReq } from '../../pretrained/api';
import { callback, getEngine } from '../engine-client';
import { getPretrained } from '../../pretrained/client';
import { useJobs, type JobSpec } from './jobs';

interface EvalState {
  request: EvaluateRequest | null;
  records: EvalRecord[];
  reply: EvaluateReply | null;
  /** The benchmark whose items are listed under the table. */
  open: string | null;
  run(req: EvaluateRequest): Promise<void>;
  /** The same with the pretrained model; `model` names it in the table. */
  runPretrained(req: PretrainedEvaluateReq & { model: string }): Promise<void>;
  setOpen(name: string | null): void;
}

/**
 * Callbacks come back over their own comlink port, so the last records can arrive after the reply:
 * records of a finished (or replaced) evaluation are dropped.
 */
let current = 0;

export const useEval = create<EvalState>()((set, get) => ({
  request: null,
  records: [],
  reply: null,
  open: null,

  async run(req) {
    await evaluate(set, get, req, { kind: 'evaluate', label: `Evaluating ${req.model}`, cancel: () => getEngine().cancel() }, (onProgress, onRecord) =>
      getEngine().evaluate(req, onProgress, onRecord),
    );
  },

  async runPretrained({ model, ...req }) {
    await evaluate(
      set,
      get,
      { ...req, model },
      { kind: 'evaluate', lane: 'pretrained', label: `Evaluating ${model}`, cancel: () => getPretrained().cancel() },
      (onProgress, onRecord) => getPretrained().evaluate(req, onProgress, onRecord),
    );
  },

  setOpen(name) {
    set({ open: name });
  },
}));

type Call = (onProgress: (p: Progress) => void, onRecord: (r: EvalRecord) => void) => Promise<EvaluateReply>;

async function evaluate(set: (p: Partial<EvalState>) => void, get: () => EvalState, req: EvaluateRequest, spec: JobSpec, call: Call): Promise<void> {
  const id = ++current;
  set({ request: req, records: [], reply: null, open: null });
  const reply = await useJobs.getState().run(spec, (report) =>
    call(
      callback(report),
      callback((r: EvalRecord) => {
        if (id === current && !get().reply) set({ records: [...get().records, r] });
      }),
    ),
  );
  if (reply && id === current) set({ reply, records: reply.records.length ? reply.records : get().records });
  if (id === current) current++;
}
