// The fuzz suite's harness: a seeded generator, and the one oracle every generated input goes
// through. A bad input must end in an InputError whose message names the file or key it came
// from; any other exception escaping, an input taking longer than HANG_MS, or a bad input that is
// accepted is a finding. Inputs that may be valid after mutation (a flipped bit in a weight) only
// have to end in a result or an InputError. Findings are collected, so one run lists them all.
import { expect } from 'vitest';
import { InputError } from '../../src/engine/errors';
import { seededRandom } from '../../src/util/random';

/** Mulberry32, with helpers for picking and mutating. */
export function fuzzRng(seed: number) {
  const next = seededRandom(seed);
  const int = (n: number) => Math.floor(next() * n);
  return {
    next,
    int,
    /** An integer in [lo, hi]. */
    range: (lo: number, hi: number) => lo + int(hi - lo + 1),
    pick: <T>(xs: readonly T[]): T => xs[int(xs.length)],
    bytes: (n: number) => Uint8Array.from({ length: n }, () => int(256)),
    /** `bytes` with `count` random bytes changed. */
    flip: (bytes: Uint8Array, count: number, from = 0, to = bytes.length) => {
      const out = bytes.slice();
      for (let i = 0; i < count; i++) out[from + int(Math.max(1, to - from))] ^= 1 + int(255);
      return out;
    },
  };
}
export type FuzzRng = ReturnType<typeof fuzzRng>;

/**
 * Longest one input may take before it counts as a hang: generous, so that a loaded CI machine
 * never trips it (every input here is refused in milliseconds; a real hang runs forever).
 */
export const HANG_MS = 30_000;

export interface FuzzCase {
  /** Says what the input is, to reproduce it from the report. */
  name: string;
  run: () => unknown;
  /** The message must contain one of these (the file or the key the input came through). */
  names: (string | RegExp)[];
  /** The input is bad for certain; false: it may be valid after the mutation. */
  bad: boolean;
}

export class Fuzz {
  readonly findings: string[] = [];
  refused = 0;
  accepted = 0;
  constructor(readonly label: string) {}

  async check(c: FuzzCase): Promise<void> {
    const t0 = performance.now();
    let err: unknown = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Hang()), HANG_MS);
    });
    try {
      await Promise.race([Promise.resolve().then(c.run), timeout]);
    } catch (e) {
      err = e;
    } finally {
      clearTimeout(timer);
    }
    const ms = performance.now() - t0;
    const fail = (why: string) => {
      this.findings.push(`${c.name}: ${why}`);
    };
    if (err instanceof Hang || ms > HANG_MS) return fail(`no answer within ${HANG_MS} ms (took ${ms.toFixed(0)} ms)`);
    if (err === null) {
      this.accepted++;
      if (c.bad) fail('accepted');
      return;
    }
    if (!(err instanceof InputError)) return fail(`${(err as Error)?.name ?? typeof err} escaped: ${(err as Error)?.message ?? String(err)}`);
    this.refused++;
    const msg = err.message;
    if (!c.names.some((n) => (typeof n === 'string' ? msg.includes(n) : n.test(msg)))) fail(`the message does not name ${c.names.join(' or ')}: ${msg}`);
  }

  /** No findings, and at least `minRefused` inputs were refused. */
  report(minRefused: number): void {
    if (process.env.FUZZ_VERBOSE) console.log(`${this.label}: ${this.refused} refused, ${this.accepted} accepted, ${this.findings.length} findings`);
    expect(this.findings.slice(0, 25), `${this.findings.length} findings (${this.label})`).toEqual([]);
    expect(this.refused, `${this.label}: inputs refused`).toBeGreaterThanOrEqual(minRefused);
  }
}

class Hang extends Error {}
