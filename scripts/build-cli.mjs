// Bundles the headless runner (src/cli/main.ts) into one ES module with esbuild (for a GPU
// server's pack, `--small`: the entry plus chunks of what it loads lazily). WGSL files are inlined
// through the same `?raw` import suffix Vite understands. Used by bin/thinker.mjs on demand and by
// `npm run bundle` and scripts/pack-gpu-server.sh for carrying the runner to a GPU server.
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
  split = false,
} = {}) {
  const common = {
    entryPoints: [path.join(root, 'src/cli/main.ts')],
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
  };
  if (split) {
    // What a code path imports lazily goes to its own chunk beside the entry, with its own imports
    // of external packages: the runner then starts where a package only some commands use is
    // absent (transformers.js, for the pretrained backend, on a GPU server's pack). In one file
    // every external import is hoisted to the top and must resolve at start.
    await build({
      ...common,
      outdir: path.dirname(outfile),
      entryNames: path.basename(outfile, '.mjs'),
      chunkNames: 'chunks/[name]-[hash]',
      outExtension: { '.js': '.mjs' },
      splitting: true,
    });
    return outfile;
  }
  // Built under a temporary name and renamed, so two runners starting at once never load half a file.
  const tmp = `${outfile}.${process.pid}.tmp`;
  await build({ ...common, outfile: tmp });
  await rename(tmp, outfile);
  return outfile;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  // `build-cli.mjs OUT --small`: minified, no source map, lazily loaded code in chunks beside OUT
  // (for carrying to a server).
  const small = process.argv.includes('--small');
  const out = await buildCli({
    outfile: process.argv[2] ? path.resolve(process.argv[2]) : undefined,
    minify: small,
    sourcemap: small ? false : 'inline',
    split: small,
  });
  console.log(`built ${path.relative(process.cwd(), out)}`);
}
