// Parsing helpers for CLI options: every bad value names the option it came from.
import { InputError } from '../engine/errors';

export function intOpt(name: string, v: unknown, min = 0): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InputError(`--${name}`, `expected an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

export function numOpt(name: string, v: unknown, min = -Infinity, max = Infinity): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new InputError(`--${name}`, `expected a number in [${min}, ${max}], got ${JSON.stringify(v)}`);
  return n;
}

export function idList(name: string, v: string): number[] {
  const parts = v
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
  if (parts.length === 0) throw new InputError(`--${name}`, 'expected a comma-separated list of token ids');
  return parts.map((p) => intOpt(name, p, 0));
}
