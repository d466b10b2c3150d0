// Imported first by the scripts run under tsx: the engine imports its WGSL as `file.wgsl?raw`
// (Vite's convention, which esbuild and Vitest honour too); this module hook does the same under
// plain Node. Engine modules must be imported (dynamically) after this module has run.
import { register } from 'node:module';

const RAW_HOOKS = `
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
export async function resolve(specifier, context, next) {
  if (specifier.endsWith('?raw')) return { url: new URL(specifier, context.parentURL).href, format: 'module', shortCircuit: true };
  return next(specifier, context);
}
export async function load(url, context, next) {
  if (!url.endsWith('?raw')) return next(url, context);
  const text = await readFile(fileURLToPath(url.slice(0, -4)), 'utf8');
  return { format: 'module', source: 'export default ' + JSON.stringify(text) + ';', shortCircuit: true };
}`;
register('data:text/javascript,' + encodeURIComponent(RAW_HOOKS));
