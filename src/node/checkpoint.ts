// Saving a model folder atomically on disk: everything is written into a sibling temporary folder,
// which then replaces the target by rename. A run killed mid-save leaves either the old checkpoint
// or the new one in place, never a mix (at worst a stray `.tmp-*` folder beside it).
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { nodeDirSink, nodeDirSource } from '../io/files';
import { loadHfFolder, saveHfFolder, ropeInvFreqFromConfig } from '../io/hf-config';
import type { ModelConfig } from '../model/config';
import type { WeightMap } from '../model/model';
import { Model } from '../model/model';
import { checkFits } from '../model/memory';
import type { Gpu } from '../engine/gpu';

export async function saveCheckpoint(dir: string, cfg: ModelConfig, weights: WeightMap, extraFiles: Record<string, Uint8Array | string> = {}) {
  const abs = path.resolve(dir);
  await mkdir(path.dirname(abs), { recursive: true });
  const tmp = `${abs}.tmp-${process.pid}-${Date.now()}`;
  await saveHfFolder(nodeDirSink(tmp), cfg, weights, extraFiles);
  const exists = await stat(abs).then(() => true, () => false);
  if (exists) {
    const old = `${abs}.old-${process.pid}-${Date.now()}`;
    await rename(abs, old);
    await rename(tmp, abs);
    await rm(old, { recursive: true, force: true });
  } else {
    await rename(tmp, abs);
  }
}

/** Load a Hugging Face folder onto the GPU. */
export async function loadModel(gpu: Gpu, dir: string) {
  const src = nodeDirSource(dir);
  const { config, configJson, weights } = await loadHfFolder(src, dir, { checkConfig: (c, w) => checkFits(c, gpu, 'infer', w) });
  const model = new Model(gpu, config, ropeInvFreqFromConfig(configJson, path.join(dir, 'config.json')));
  model.loadWeights(weights, dir);
  return { model, src };
}
