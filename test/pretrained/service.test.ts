// The pretrained worker's API (src/pretrained/service.ts, what workers/pretrained.worker.ts serves)
// in Node over a memory workspace: catalog for an adapter, load, ask with the recipe prompt,
// evaluate and distill on DataRefs (synth items), kept traces saved as a dataset that reads back
// (never over an existing one), and one job at a time.
import { describe, it, expect, afterAll } from 'vitest';
import path from 'node:path';
import { PretrainedBackend } from '../../src/pretrained/backend';
import { createPretrainedService } from '../../src/pretrained/service';
import { nodeCacheStore } from '../../src/pretrained/cache-node';
import { MemoryWorkspace } from '../../src/io/workspace';
import { tokenizerFromJson } from '../../src/io/tokenizer';
import { generateSynth } from '../../src/data/synth';
import { loadDatasetItems } from '../../src/data/store';
import type { AdapterView } from '../../src/pretrained/api';
import type { DataRef } from '../../src/lab/api';
import { labTokenizer, letterTeacher, tempDir, labModelAndExport } from './fixtures';

const tmp = await tempDir('pretrained-service');
afterAll(() => tmp.cleanup());

const adapter: AdapterView = {
  webgpu: {
    vendor: 'test',
    architecture: 'test',
    description: '',
    features: ['shader-f16'],
    maxBufferSize: 256 * 2 ** 20,
    maxStorageBufferBindingSize: 128 * 2 ** 20,
  },
  memoryBytes: 8 * 2 ** 30,
  device: 'webgpu',
};
const synth: DataRef = { kind: 'synth', options: { n: 8, kind: 'text', level: 1, seed: 4, split: 'test' } };

describe('pretrained worker API (Node)', () => {
  it('serves catalog, load, ask, evaluate and distill; saves kept traces as a dataset', async () => {
    const { bpe, files } = labTokenizer();
    const t = letterTeacher(tokenizerFromJson(bpe.tokenizerJson, bpe.tokenizerConfig, 'tok'));
    const { exported } = await labModelAndExport(path.join(tmp.dir, 'teacher'), t.cfg, t.weights, files);
    const ws = new MemoryWorkspace();
    const store = nodeCacheStore(path.join(tmp.dir, 'cache'));
    const backend = new PretrainedBackend({ store, defaultDevice: 'cpu', numThreads: 1 });
    const api = createPretrainedService({ backend, store, adapter, workspace: ws });

    const catalog = await api.catalog();
    expect(catalog.map((c) => c.id)).toContain('HuggingFaceTB/SmolVLM-256M-Instruct');
    expect(catalog.find((c) => c.modelType === 'gemma3')!.refusal).toMatch(/not enough memory/);
    expect(await api.cached()).toEqual([]);
    expect(await api.current()).toBeNull();
    await expect(api.ask({ question: 'Q', recipePrompt: false, maxNewTokens: 4, temperature: 0 })).rejects.toThrow(/no model is loaded/);

    const info = await api.load({ model: exported });
    expect(info.kind).toBe('text');
    expect((await api.current())?.id).toBe(exported);

    const reply = await api.ask({ question: 'Is it enlarged?', options: { A: 'Yes', B: 'No' }, recipePrompt: true, maxNewTokens: 12, temperature: 0 });
    expect(reply).toMatchObject({ format: true, letter: 'A', finished: true });
    expect(reply.text).toMatch(/^<think>[xy]<\/think><answer>A<\/answer>$/);

    const items = await generateSynth(synth.kind === 'synth' ? synth.options : (undefined as never));
    const goldA = items.filter((x) => x.answer_label === 'A');
    expect(goldA.length).toBeGreaterThan(0);
    expect(goldA.length).toBeLessThan(items.length);

    const progress: number[] = [];
    const records: string[] = [];
    const ev = await api.evaluate(
      { benchmarks: [{ name: 'synth', data: synth }], limit: 0, maxNewTokens: 12 },
      (p) => progress.push(p.done),
      (r) => records.push(r.hash),
    );
    expect(ev.benchmarks[0]).toMatchObject({ name: 'synth', items: 8, correct: goldA.length });
    expect(ev.average).toEqual({ accuracy: goldA.length / 8, items: 8 });
    expect(records).toEqual(items.map((x) => x.hash));
    expect(progress.at(-1)).toBe(8);

    // One job at a time: a question asked while distilling is refused, naming the job.
    const running = api.distill({ data: synth, n: 2, maxNewTokens: 12, seed: 1, saveAs: 'teacher-traces' });
    await expect(api.ask({ question: 'Q', recipePrompt: false, maxNewTokens: 4, temperature: 0 })).rejects.toThrow(/busy distilling/);
    const d = await running;
    expect(d).toMatchObject({ total: 8, withTrace: goldA.length, samples: 16 });
    expect(d.records.filter((r) => r.kept !== null).map((r) => r.answer_label)).toEqual(goldA.map(() => 'A'));
    expect(d.saved).toMatchObject({ name: 'teacher-traces', source: `distilled:${exported}` });
    const saved = await loadDatasetItems(ws, 'teacher-traces', 'train');
    expect(saved.map((x) => x.hash)).toEqual(goldA.map((x) => x.hash));
    expect(saved.every((x) => /^[xy]$/.test(x.reasoning ?? ''))).toBe(true);
    // The name is taken now: saving there again is refused before any sampling, and the set stays as it was.
    const kept = await ws.read('datasets/teacher-traces/train.jsonl');
    await expect(api.distill({ data: synth, n: 1, maxNewTokens: 12, seed: 2, saveAs: 'teacher-traces' })).rejects.toThrow(
      /datasets\/teacher-traces: a dataset of this name exists/,
    );
    expect(await ws.read('datasets/teacher-traces/train.jsonl')).toEqual(kept);

    await api.unload();
    expect(await api.current()).toBeNull();
  });
});
