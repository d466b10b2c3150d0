// Where the CLI writes. Nothing a person made is overwritten unless they say so (--force), --force
// never clears a folder the command still has to read, and an output that cannot be written (a
// file where a folder goes, a folder where a file goes) is refused before any work: these checks
// run right after the options are parsed, before a model is loaded or a device made.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../engine/errors';
import { isRunEntry, RUN_ENTRY_FILES } from '../recipe/run-io';

const kindOf = (p: string) =>
  stat(p).then(
    (s) => (s.isDirectory() ? ('dir' as const) : ('file' as const)),
    () => null,
  );

/** `ref` is `dir` or inside it. */
const inside = (dir: string, ref: string) => {
  const rel = path.relative(path.resolve(dir), path.resolve(ref));
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
};

/**
 * The --out of sft/grpo. A missing or empty folder, one without a run in it, or the resumed run's
 * own folder is written as it is; a folder holding another run is refused unless `force`, and
 * then the run clears the old one (RunJob.replace) once every input has been checked. `reads` are
 * the folders the run reads (config keys and their paths); none may lie inside a folder --force
 * clears.
 */
export async function runOutput(
  out: string,
  o: { force?: boolean; resumeRun?: string | null; reads: { key: string; ref: string }[] },
): Promise<{ replace: boolean }> {
  const kind = await kindOf(out);
  if (kind === null) return { replace: false };
  if (kind === 'file') throw new InputError(out, 'is a file, not a run folder');
  if (o.resumeRun && path.resolve(o.resumeRun) === path.resolve(out)) return { replace: false };
  const names = (await readdir(out)).filter(isRunEntry);
  if (names.length === 0) return { replace: false };
  const steps = names.filter((n) => !RUN_ENTRY_FILES.includes(n)).sort((a, b) => Number(a.slice(11)) - Number(b.slice(11)));
  const held = [...RUN_ENTRY_FILES.filter((f) => names.includes(f)), ...steps];
  if (!o.force)
    throw new InputError(
      out,
      `already holds a run (${held.join(', ')}): continue it with --resume ${out}, pass --force to replace it, or choose another --out`,
    );
  for (const r of o.reads) if (r.ref && inside(out, r.ref)) throw new InputError(r.key, `${r.ref} is inside --out ${out}, which --force would clear first`);
  return { replace: true };
}

/** The --out of a command writing one model folder (train): new, empty, or a model to replace with `force`. */
export async function modelOutput(out: string, force?: boolean): Promise<void> {
  const kind = await kindOf(out);
  if (kind === null) return;
  if (kind === 'file') throw new InputError(out, 'is a file, not a model folder');
  const names = (await readdir(out)).sort();
  if (names.length === 0) return;
  // Saving replaces the whole folder: a folder of anything else would be lost with it.
  if (!names.includes('config.json') && !names.some((n) => n.endsWith('.safetensors'))) {
    throw new InputError(
      out,
      `holds files that are not a model (${names.slice(0, 3).join(', ')}${names.length > 3 ? ', ...' : ''}); choose a new or empty folder`,
    );
  }
  if (!force) throw new InputError(out, 'already holds a model (config.json); pass --force to replace it');
}

/** Output files: none may be a folder, name another output, or exist already unless `force`. */
export async function fileOutputs(files: (string | null | undefined)[], force?: boolean): Promise<void> {
  const seen = new Set<string>();
  for (const f of files) {
    if (!f) continue;
    const abs = path.resolve(f);
    if (seen.has(abs)) throw new InputError(f, 'is named for two outputs');
    seen.add(abs);
    const kind = await kindOf(f);
    if (kind === 'dir') throw new InputError(f, 'is a folder, not a file');
    if (kind === 'file' && !force) throw new InputError(f, 'already exists; pass --force to replace it');
  }
}
