// Names of the lab's folders (datasets, models, runs).
import { InputError } from '../engine/errors';

/** 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit. */
export const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A dataset, model or run name: one folder name, so it can never reach outside its parent. */
export function checkName(what: string, name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new InputError(what, `name ${JSON.stringify(name)} is not allowed: use 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit`);
  }
  return name;
}
