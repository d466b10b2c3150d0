// Benchmark evaluation: the request, graded records as they arrive, and the final table.
import { create } from 'zustand';
import type { EvaluateReply, EvaluateRequest } from '../../../workers/api';
import type { EvalRecord } from '../../eval/run';
import { callback, getEngine } from '../engine-client';
import { useJobs } from './jobs';

interface EvalState {
  request: EvaluateRequest | null;
  records: EvalRecord[];
  reply: EvaluateReply | null;
  /** The benchmark whose items are listed under the table. */
  open: string | null;
  run(req: EvaluateRequest): Promise<void>;
  setOpen(name: string | null): void;
}

export const useEval = create<EvalState>()((set, get) => ({
  request: null,
  records: [],
  reply: null,
  open: null,

  async run(req) {
    set({ request: req, records: [], reply: null, open: null });
    const reply = await useJobs.getState().run({ kind: 'evaluate', label: `Evaluating ${req.model}`, cancel: () => getEngine().cancel() },
      (report) => getEngine().evaluate(req, callback(report), callback((r: EvalRecord) => set({ records: [...get().records, r] }))));
    if (reply) set({ reply, records: reply.records.length ? reply.records : get().records });
  },

  setOpen(name) {
    set({ open: name });
  },
}));
