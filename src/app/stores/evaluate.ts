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
    const id = ++current;
    set({ request: req, records: [], reply: null, open: null });
    const reply = await useJobs.getState().run({ kind: 'evaluate', label: `Evaluating ${req.model}`, cancel: () => getEngine().cancel() },
      (report) => getEngine().evaluate(req, callback(report), callback((r: EvalRecord) => {
        if (id === current && !get().reply) set({ records: [...get().records, r] });
      })));
    if (reply && id === current) set({ reply, records: reply.records.length ? reply.records : get().records });
    if (id === current) current++;
  },

  setOpen(name) {
    set({ open: name });
  },
}));
