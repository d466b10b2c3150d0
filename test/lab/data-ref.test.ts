// A data reference can pick one source benchmark out of a mixed set (the paper's evaluation set
// holds all six in one split), with the limit applied after the pick.
import { it, expect } from 'vitest';
import { MemoryWorkspace } from '../../src/io/workspace';
import { generateSynth } from '../../src/data/synth';
import { resolveItems, writeDataset } from '../../src/data/store';

it('keeps only the named benchmark, then the limit; an absent name lists the ones present', async () => {
  const ws = new MemoryWorkspace();
  const items = await generateSynth({ n: 10, kind: 'mixed', level: 1, seed: 2, split: 'test', imageSize: 16 });
  await writeDataset(ws, 'mixed', 'test', [{ name: 'test', items }], {});
  const text = items.filter((it) => it.dataset_name === 'synth_text');
  expect(text.length).toBeGreaterThan(2);
  const got = await resolveItems(ws, { kind: 'dataset', name: 'mixed', datasetName: 'synth_text' });
  expect(got.map((it) => it.hash)).toEqual(text.map((it) => it.hash));
  const two = await resolveItems(ws, { kind: 'dataset', name: 'mixed', datasetName: 'synth_text', limit: 2 });
  expect(two.map((it) => it.hash)).toEqual(text.slice(0, 2).map((it) => it.hash));
  await expect(resolveItems(ws, { kind: 'dataset', name: 'mixed', datasetName: 'vqa_rad' })).rejects.toThrow(/no items of "vqa_rad".*synth_image, synth_text/);
});
