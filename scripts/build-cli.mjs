// Bundles the headless runner (src/cli/main.ts) into one ES module with esbuild. WGSL files are
// inlined through the same `?raw` import suffix Vite understands. Used by bin/thinker.mjs on demand
// and by `npm run bundle` for carrying the runner to a GPU server.
import { build } from 'esbuild';
import { readFile, rename } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const rawPlugin = {
  name: 'raw',
  setup(b) {
    b.onResolve({ filter: /\?raw$/ }, (args) => ({
      path: path.resolve(args.resolveDir, args.path.replace(/\?raw$/, '')),
      namespace: 'raw',
    }));
    b.onLoad({ filter: /.*/, namespace: 'raw' }, async (args) => ({
      contents: await readFile(args.path, 'utf8'),
      loader: 'text',
    }));
  },
};

export async function buildCli({
  outfile = path.join(root, 'dist/thinker-cli.mjs'),
  external = ['webgpu', 'onnxruntime-web', '@huggingface/transformers'],
  minify = false,
  sourcemap = 'inline',
} = {}) {
  // Built under a temporary name and renamed, so two runners starting at once never load half a file.
  const tmp = `${outfile}.${process.pid}.tmp`;
  await build({
    entryPoints: [path.join(root, 'src/cli/main.ts')],
    outfile: tmp,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap,
    minify,
    external,
    plugins: [rawPlugin],
    logLevel: 'warning',
    // Bundled CommonJS dependencies call require(); give the ES module one.
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  await rename(tmp, outfile);
  return outfile;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  // `build-cli.mjs OUT --small`: minified, no source map (for carrying to a server).
  const small = process.argv.includes('--small');
  const out = await buildCli({ outfile: process.argv[2] ? path.resolve(process.argv[2]) : undefined, minify: small, sourcemap: small ? false : 'inline' });
  console.log(`built ${path.relative(process.cwd(), out)}`);
}
