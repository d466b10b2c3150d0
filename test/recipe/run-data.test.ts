// Both stages read their items through one function: synth, a loader by name, or a recipe JSONL
// file (what `thinker curate`, `thinker distill` and the lab's datasets write); overrides may come
// in any order (the source before its path). A JSONL file with
// images resolves them beside itself, and the SFT and GRPO configs accept and check the source.
import { describe, it, expect } from 'vitest';
import { InputError } from '../../src/engine/errors';
import { MemoryWorkspace, subWorkspace } from '../../src/io/workspace';
import { generateSynth } from '../../src/data/synth';
import { recipeRow } from '../../src/data/loaders/recipe';
import { applyOverrides, sftConfigFrom } from '../../src/recipe/sft-config';
import { applyGrpoOverrides, grpoConfigFrom } from '../../src/recipe/grpo-config';
import { loadSftItems } from '../../src/recipe/sft-run';
import { loadGrpoItems } from '../../src/recipe/grpo-run';

async function writeSet(ws: MemoryWorkspace) {
  const items = await generateSynth({ n: 6, kind: 'image', level: 1, seed: 4, split: 'train', imageSize: 24 });
  const held = await generateSynth({ n: 3, kind: 'text', level: 1, seed: 4, split: 'test' });
  const enc = new TextEncoder();
  const lines: string[] = [];
  for (const [i, it] of items.entries()) {
    const names = [];
    for (const [j, im] of it.images.entries()) {
      const name = `images/${i}-${j}.png`;
      await ws.write(`datasets/set/${name}`, await im.load());
      names.push(name);
    }
    lines.push(JSON.stringify({ ...recipeRow(it), images: names }));
  }
  await ws.write('datasets/set/train.jsonl', enc.encode(lines.join('\n') + '\n'));
  await ws.write('datasets/set/test.jsonl', enc.encode(held.map((it) => JSON.stringify(recipeRow(it))).join('\n') + '\n'));
  return { items, held };
}

describe('recipe JSONL as a run data source', () => {
  it('SFT and GRPO read the same items, images included, from a workspace folder', async () => {
    const ws = new MemoryWorkspace('lab');
    const { items, held } = await writeSet(ws);
    const open = (ref: string) => subWorkspace(ws, ref);
    const sft = applyOverrides(sftConfigFrom('synth-micro'), [
      'data.source=file',
      'data.file.path=datasets/set/train.jsonl',
      'data.file.evalPath=datasets/set/test.jsonl',
      'eval.items=2',
    ]);
    const s = await loadSftItems(sft, { open });
    expect(s.train.map((x) => [x.question, x.answer_label, x.reasoning])).toEqual(items.map((x) => [x.question, x.answer_label, x.reasoning]));
    expect(s.eval.map((x) => x.hash)).toEqual(held.slice(0, 2).map((x) => x.hash));
    expect(s.dropped).toBe(0);
    for (const [i, it] of s.train.entries()) expect(await it.images[0].load()).toEqual(await items[i].images[0].load());

    const grpo = applyGrpoOverrides(grpoConfigFrom('synth-micro'), [
      'model=models/m',
      'data.file.path=datasets/set/train.jsonl',
      'data.file.limit=4',
      'data.source=file',
      'eval.items=0',
    ]);
    const g = await loadGrpoItems(grpo, { open });
    expect(g.train.map((x) => x.hash)).toEqual(items.slice(0, 4).map((x) => x.hash));
    expect(g.eval).toEqual([]);
  });

  it('a missing file or an empty path is an InputError naming it', async () => {
    const ws = new MemoryWorkspace('lab');
    const open = (ref: string) => subWorkspace(ws, ref);
    await expect(
      loadSftItems(applyOverrides(sftConfigFrom('synth-micro'), ['data.file.path=datasets/none/train.jsonl', 'data.source=file']), { open }),
    ).rejects.toThrow(/datasets\/none\/train\.jsonl.*not found/);
    expect(() => applyOverrides(sftConfigFrom('synth-micro'), ['data.source=file'])).toThrow(InputError);
    expect(() => applyOverrides(sftConfigFrom('synth-micro'), ['data.source=file'])).toThrow(/data\.file\.path is empty/);
  });
});
