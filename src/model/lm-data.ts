// Plain next-token training data: random windows over one long token stream.
import { InputError } from '../engine/errors';
import type { TokenBatch } from './batch';

/** B windows of T+1 tokens: ids are the first T, targets the next T. */
export function sampleWindows(stream: Uint32Array, B: number, T: number, random: () => number): TokenBatch {
  if (stream.length < T + 1) throw new InputError('training data', `only ${stream.length} tokens; need at least ${T + 1} for sequence length ${T}`);
  const ids = new Uint32Array(B * T);
  const targets = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const start = Math.floor(random() * (stream.length - T));
    for (let t = 0; t < T; t++) {
      ids[b * T + t] = stream[start + t];
      targets[b * T + t] = stream[start + t + 1];
    }
  }
  return { B, T, ids, targets };
}
