// Hand-made "a > b?" items for the SFT run tests: a synth generator stand-in whose items a micro
// model learns in a few steps, with or without reasoning traces.
import type { QAItem } from '../../src/task/schema';
import type { SynthGenerator } from '../../src/cli/commands/sft';
import { rng } from '../helpers/gpu';

export function compareItems(n: number, seed: number, split: string, withTrace = true): QAItem[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const a = 1 + r.int(9),
      b = 1 + r.int(9);
    const options = { A: 'yes', B: 'no' };
    const label = a > b ? 'A' : 'B';
    return {
      images: [],
      question: `${a} > ${b}?`,
      options,
      answer_label: label,
      answer: options[label as 'A'],
      reasoning: withTrace ? `${a} ${a > b ? '>' : '<='} ${b}` : undefined,
      dataset_name: `compare-${split}`,
      dataset_index: i,
      hash: `${split}-${seed}-${i}`,
    };
  });
}

/** The generator: test-split items from another seed. */
export const handMade: SynthGenerator = (o) => compareItems(o.n, o.seed + (o.split === 'test' ? 1000 : 0), o.split);

/** `--set` overrides for a 32-wide two-layer model on 128-token sequences: these items train on it in seconds. */
export const MICRO_MODEL = ['model.hiddenSize=32', 'model.numHeads=2', 'model.numKvHeads=1', 'model.intermediateSize=64', 'model.context=128', 'maxLength=128'];
