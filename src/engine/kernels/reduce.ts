import tree from '../../../shaders/lib/reduce.wgsl?raw';
import subgroups from '../../../shaders/lib/reduce-subgroups.wgsl?raw';
import type { Gpu } from '../gpu';

const linked = new Map<string, string>();

/**
 * A kernel family's module name and code with the workgroup reductions it calls (groupSum,
 * groupMax: shaders/lib/) linked in front: subgroup operations where the device has the feature
 * and `Gpu.subgroupReductions` is on, barrier trees elsewhere. The name says which, so both
 * variants can sit in the pipeline cache: `gpu.pipeline(...withReductions(gpu, 'norm', code), entry)`.
 */
export function withReductions(gpu: Gpu, family: string, code: string): [name: string, code: string] {
  const sg = gpu.subgroupReductions;
  const name = sg ? `${family}+subgroups` : family;
  let text = linked.get(name);
  if (text === undefined) {
    text = `${sg ? subgroups : tree}\n${code}`;
    linked.set(name, text);
  }
  return [name, text];
}
