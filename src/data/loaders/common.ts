// Pieces every loader uses: lazy image references, finding a source's files, and the shared
// load options.

import { InputError } from '../../engine/errors';
import { joinWhere, readText, type FileSource } from '../../io/files';
import { LETTERS, type ImageRef } from '../../task/schema';
import type { LoadOptions } from '../report';

export interface ImageLoadOptions extends LoadOptions {
  /** Items whose image files are absent: dropped and reported (default), or kept and counted in a
   * note (their images fail when loaded). */
  missingImages?: 'drop' | 'keep';
}

export const fileRef = (src: FileSource, path: string): ImageRef => ({
  name: path,
  load: () => src.read(path),
});

export const bytesRef = (name: string, bytes: Uint8Array): ImageRef => ({
  name,
  load: async () => bytes,
});

export const missingRef = (name: string, where: string): ImageRef => ({
  name,
  load: async () => {
    throw new InputError(where, `image ${name} is missing`);
  },
});

export const baseName = (p: string) => p.slice(p.lastIndexOf('/') + 1);

/** Every file of a source, listed once and reused by a loader. */
export class FileIndex {
  private constructor(
    readonly src: FileSource,
    readonly files: string[],
    private readonly set: Set<string>,
    private readonly byBase: Map<string, string[]>,
  ) {}

  static async of(src: FileSource): Promise<FileIndex> {
    const files = await src.list();
    const byBase = new Map<string, string[]>();
    for (const f of files) {
      const b = baseName(f);
      const l = byBase.get(b);
      if (l) l.push(f);
      else byBase.set(b, [f]);
    }
    return new FileIndex(src, files, new Set(files), byBase);
  }

  has(path: string) {
    return this.set.has(path);
  }

  /** An image by its path relative to one of `dirs`, or else by its file name anywhere (when unique). */
  findImage(name: string, dirs: string[]): string | null {
    const clean = name.replace(/^\.?\//, '');
    for (const d of dirs) {
      const p = d ? `${d.replace(/\/+$/, '')}/${clean}` : clean;
      if (this.set.has(p)) return p;
    }
    const hits = this.byBase.get(baseName(clean));
    return hits && hits.length === 1 ? hits[0] : null;
  }

  /** The first of `candidates` present, else the first file matching `pattern`, else null. */
  pick(candidates: string[], pattern?: RegExp): string | null {
    for (const c of candidates) if (this.set.has(c)) return c;
    if (pattern) return this.files.find((f) => pattern.test(f)) ?? null;
    return null;
  }

  /** Like pick, but a missing file is an InputError that says what was looked for. */
  require(candidates: string[], pattern: RegExp | undefined, what: string): string {
    const p = this.pick(candidates, pattern);
    if (!p) throw new InputError(this.src.name, `no ${what} found (looked for ${candidates.join(', ')}${pattern ? ` or a file matching ${pattern}` : ''})`);
    return p;
  }
}

export async function readJsonFile(src: FileSource, path: string): Promise<unknown> {
  const text = await readText(src, path);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InputError(joinWhere(src.name, path), `is not valid JSON: ${(e as Error).message}`);
  }
}

/** Split aliases people use for the same thing. */
export function canonicalSplit(split: string | undefined, fallback: string): string {
  const s = (split ?? fallback).toLowerCase();
  if (s === 'val' || s === 'valid' || s === 'validation') return 'validation';
  return s;
}

export function checkSplit(dataset: string, split: string, allowed: string[]) {
  if (!allowed.includes(split)) throw new InputError(dataset, `unknown split "${split}" (choose ${allowed.join(', ')})`);
}

/** Options given in any of the shapes datasets use: a letter-keyed object (or its JSON text), a list
 * of texts, or a list of {letter|key|label, content|text|value}. Null when the shape is unknown. */
export function parseOptions(v: unknown): Record<string, string> | null {
  if (typeof v === 'string') {
    const s = v.trim();
    if (!s.startsWith('{') && !s.startsWith('[')) return null;
    try {
      v = JSON.parse(s);
    } catch {
      return null;
    }
  }
  if (Array.isArray(v)) {
    const out: Record<string, string> = {};
    for (let i = 0; i < v.length; i++) {
      const e = v[i];
      if (typeof e === 'string') {
        out[LETTERS[i]] = e;
        continue;
      }
      if (e && typeof e === 'object') {
        const o = e as Record<string, unknown>;
        const key = o.letter ?? o.key ?? o.label;
        const text = o.content ?? o.text ?? o.value;
        if (typeof key === 'string' && typeof text === 'string') {
          out[key.trim()] = text;
          continue;
        }
      }
      return null;
    }
    return out;
  }
  if (v && typeof v === 'object') {
    const out: Record<string, string> = {};
    for (const [k, t] of Object.entries(v as Record<string, unknown>)) {
      if (t === null || t === undefined) continue; // parquet structs carry absent letters as null
      if (typeof t !== 'string' && typeof t !== 'number') return null;
      out[k] = String(t);
    }
    return out;
  }
  return null;
}

/** The gold letter from a cell holding a letter ("B", "b", "(B)", "B: text") or an answer text. */
export function goldLetter(cell: unknown, options: Record<string, string>): string | null {
  if (cell === null || cell === undefined) return null;
  if (Array.isArray(cell)) return cell.length === 1 ? goldLetter(cell[0], options) : null;
  const s = String(cell).trim();
  const keys = Object.keys(options);
  const m = /^\(?([A-Za-z])\)?(?:\s*[:.)]\s*.*)?$/s.exec(s);
  if (m && keys.includes(m[1].toUpperCase())) {
    // "B: text" must agree with option B when it carries text.
    const rest = s.replace(/^\(?[A-Za-z]\)?\s*[:.)]?\s*/, '');
    if (rest === '' || rest.toLowerCase() === options[m[1].toUpperCase()].trim().toLowerCase()) return m[1].toUpperCase();
  }
  const byText = keys.filter((k) => options[k].trim().toLowerCase() === s.toLowerCase());
  return byText.length === 1 ? byText[0] : null;
}
