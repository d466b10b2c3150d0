// Model folders on disk for the CLI: the same atomic folder write (Workspace.writeFolder: a sibling
// temporary folder renamed into place, so a run killed mid-save leaves the old folder or the new
// one, never a mix) and the same loader as every other host.
import path from 'node:path';
import { nodeDirSource, nodeWorkspace } from '../io/workspace';
import { loadModelFolder, writeModelFolder } from '../io/hf-config';
import type { ModelConfig } from '../model/config';
import type { WeightMap } from '../model/model';
import type { Gpu } from '../engine/gpu';

export async function saveCheckpoint(dir: string, cfg: ModelConfig, weights: WeightMap, extraFiles: Record<string, Uint8Array | string> = {}) {
  const abs = path.resolve(dir);
  await writeModelFolder(nodeWorkspace(path.dirname(abs)), path.basename(abs), cfg, weights, extraFiles);
}

/** Load a Hugging Face folder onto the GPU. */
export async function loadModel(gpu: Gpu, dir: string) {
  const src = nodeDirSource(dir);
  return { model: await loadModelFolder(gpu, src, dir), src };
}
