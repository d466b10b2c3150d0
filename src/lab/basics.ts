// Device, storage and the engine's first demo calls (plain next-token training and decoding).
import { InputError } from '../engine/errors';
import { runLmTraining } from '../model/lm-run';
import { generate } from '../model/generate';
import type { Model } from '../model/model';
import type { EngineApi } from './api';
import type { LabContext } from './context';

type Basics = Pick<EngineApi, 'init' | 'storage' | 'busy' | 'cancel' | 'trainLm' | 'generate'>;

export function basicsApi(ctx: LabContext): Basics {
  // The model trainLm made; generate decodes from it.
  let demo: Model | null = null;
  return {
    async init() {
      return (await ctx.gpu()).info;
    },
    async storage() {
      const est = typeof navigator !== 'undefined' && navigator.storage?.estimate ? await navigator.storage.estimate() : {};
      return { usage: est.usage ?? 0, quota: est.quota ?? 0 };
    },
    async busy() {
      return ctx.busy;
    },
    async cancel() {
      ctx.cancel();
      ctx.cancelTasks();
    },
    async trainLm(req, onStep) {
      return ctx.exclusive('plain LM training', async () => {
        const { model, steps } = await runLmTraining(await ctx.gpu(), req.cfg, Uint32Array.from(req.stream), req, (s) => onStep?.(s));
        demo?.release();
        demo = model;
        return steps;
      });
    },
    async generate(req) {
      if (!demo) throw new InputError('generate', 'no model: run trainLm first');
      const m = demo;
      return ctx.exclusive('generation', () => generate(m, req.prompts, req));
    },
  };
}
