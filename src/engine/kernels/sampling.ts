import code from '../../../shaders/sampling.wgsl?raw';
import type { CommandStream } from '../stream';
import { grid1d } from '../stream';
import type { Tensor } from '../tensor';
import { EngineError } from '../errors';
import { requireDisjoint, requireTensor } from './check';
import { uniformLayout } from '../uniforms';

export const SAMPLING_PARAMS = uniformLayout('sampling', 'Params', {
  B: 'u32',
  V: 'u32',
  greedy: 'u32',
  seed: 'u32',
  step: 'u32',
  inv_t: 'f32',
  top_p: 'f32',
  _pad: 'u32',
});

/**
 * Threads per row: 256 for real vocabularies; short rows (tests, toy models) get a smaller power of
 * two so that no thread sits idle through a dozen reductions. The shader needs 16 <= WG <= 256.
 */
function workgroupSize(V: number): number {
  let wg = 32;
  while (wg < 256 && wg * 8 < V) wg *= 2;
  return wg;
}

/** u32 words of the banned-token bitset for a vocabulary of V. */
export const bannedWords = (V: number) => Math.ceil(V / 32);

/**
 * The banned-token bitset of a vocabulary of V. Refuses ids outside the vocabulary and a set that
 * bans every token (nothing would be left to pick).
 */
export function bannedMask(V: number, ids: readonly number[]): Uint32Array {
  const out = new Uint32Array(bannedWords(V));
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new EngineError(`banned token id ${id} is outside the vocabulary (${V})`);
    out[id >>> 5] |= 1 << (id & 31);
  }
  if (new Set(ids).size >= V) throw new EngineError(`every token of the vocabulary (${V}) is banned: nothing left to sample`);
  return out;
}

/** Threads per workgroup of the one-thread-per-row kernel (Gpu.rowKernels). */
const RT = 64;

export interface SampleOpts {
  greedy: boolean;
  /** > 0; ignored when greedy (logp then uses T = 1). */
  temperature: number;
  /** Nucleus mass in (0, 1]; 1 keeps every token. */
  topP: number;
  seed: number;
  /** Decoding step; with seed and row it is the RNG counter, so each step draws fresh numbers. */
  step: number;
}

/**
 * Pick one token per row of logits [B, V]: tokens[b] (u32) and logp[b] = log softmax(logits[b]/T)[token]
 * (greedy: T = 1). Greedy takes the argmax, lowest index on ties (torch.argmax). Sampling applies the
 * temperature, keeps the nucleus (the smallest set of most probable tokens whose mass is >= topP;
 * tokens tied with the last one are kept too), and draws with a hash of (seed, step, row), so the
 * same inputs always give the same tokens. Tokens whose bit is set in `banned` ([ceil(V/32)] u32,
 * `bannedMask`) are never picked; logp is still of the full row (as for top-p), so it equals the
 * log-prob the training forward computes for the token.
 */
export function sample(s: CommandStream, logits: Tensor, tokens: Tensor, logp: Tensor, banned: Tensor, B: number, V: number, o: SampleOpts): void {
  const what = `sample(${logits.name} -> ${tokens.name}, ${logp.name})`;
  if (!Number.isInteger(B) || !Number.isInteger(V) || B < 1 || V < 1) throw new EngineError(`${what}: bad shape B=${B}, V=${V}`);
  requireTensor(what, logits, B * V, 'logits', 'f32', `[B, V] = [${B}, ${V}]`);
  requireTensor(what, tokens, B, 'tokens', ['u32', 'i32'], `B = ${B}`);
  requireTensor(what, logp, B, 'logp', 'f32', `B = ${B}`);
  requireTensor(what, banned, bannedWords(V), 'banned', 'u32', `ceil(V / 32) = ${bannedWords(V)}`);
  requireDisjoint(what, { logits, tokens, logp, banned });
  if (!o.greedy && !(o.temperature > 0 && Number.isFinite(o.temperature))) {
    throw new EngineError(`${what}: temperature must be > 0 when sampling (got ${o.temperature}); use greedy for T = 0`);
  }
  if (!o.greedy && !(o.topP > 0 && o.topP <= 1)) throw new EngineError(`${what}: topP must be in (0, 1], got ${o.topP}`);
  if (!Number.isInteger(o.seed) || !Number.isInteger(o.step)) throw new EngineError(`${what}: seed and step must be integers`);
  const rows = s.gpu.rowKernels;
  s.dispatch({
    label: rows ? 'sample.thread' : 'sample',
    pipeline: rows ? s.gpu.pipeline('sampling', code, 'sample_thread', { RT }) : s.gpu.pipeline('sampling', code, 'sample_rows', { WG: workgroupSize(V) }),
    uniforms: SAMPLING_PARAMS.values({
      B,
      V,
      greedy: o.greedy ? 1 : 0,
      seed: o.seed >>> 0,
      step: o.step >>> 0,
      inv_t: o.greedy ? 1 : 1 / o.temperature,
      top_p: o.greedy ? 1 : o.topP,
    }),
    bindings: [logits, tokens, logp, banned],
    workgroups: grid1d(B, rows ? RT : 1, s.gpu.limits.maxComputeWorkgroupsPerDimension),
  });
}
