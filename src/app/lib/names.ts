// Names the user types or the UI proposes for datasets, models and runs. The engine checks them
// too; checking here lets a form say what is wrong before anything is sent.

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** What is wrong with a workspace name, or null when it is usable. */
export function nameProblem(name: string, taken: readonly string[] = []): string | null {
  if (!name) return 'give it a name';
  if (!NAME.test(name)) return 'use 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit';
  if (taken.includes(name)) return `"${name}" is taken`;
  return null;
}

/** The first of base-1, base-2, ... that is not taken. */
export function freeName(base: string, taken: readonly string[]): string {
  for (let i = 1; ; i++) {
    const n = `${base}-${i}`;
    if (!taken.includes(n)) return n;
  }
}

/**
 * A column mapping typed as "key = column" lines (blank lines and "#" comments ignored). Returns
 * the mapping, or the first line that is not of that form.
 */
export function parseColumns(text: string): { columns: Record<string, string> } | { error: string } {
  const columns: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    const key = eq > 0 ? line.slice(0, eq).trim() : '';
    const value = eq > 0 ? line.slice(eq + 1).trim() : '';
    if (!key || !value) return { error: `line ${i + 1}: expected "key = column", got "${line}"` };
    columns[key] = value;
  }
  return { columns };
}
