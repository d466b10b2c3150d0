// The real-data demo's accuracy, measured (not a test): `thinker demo vqa-closed` once per seed on
// the original VQA-RAD and SLAKE files, written as a markdown table with mean ± std beside the
// majority and blind baselines, and the minutes each run took on this machine.
//
//   npx tsx scripts/bench-demo.ts [--seeds 0,1,2] [--data-dir ../shared/data] [--out docs/demo-results.md]
//     [--work DIR] [--grpo-steps N] [--set key=value ...]
import './raw-imports';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const { runDemoCommand } = await import('../src/cli/commands/demo');
const { createNodeGpu } = await import('../src/node/dawn');
const { InputError } = await import('../src/engine/errors');
type DemoSummary = import('../src/cli/commands/demo').DemoSummary;

const args = { seeds: [0, 1, 2], dataDir: path.resolve('../shared/data'), out: '', work: '', grpoSteps: 0, set: [] as string[] };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const [f, v] = [argv[i], argv[i + 1]];
  if (v === undefined) throw new InputError(f, 'expects a value');
  if (f === '--seeds' && /^\d+(,\d+)*$/.test(v)) args.seeds = v.split(',').map(Number);
  else if (f === '--data-dir') args.dataDir = path.resolve(v);
  else if (f === '--out') args.out = v;
  else if (f === '--work') args.work = path.resolve(v);
  else if (f === '--grpo-steps' && /^\d+$/.test(v)) args.grpoSteps = Number(v);
  else if (f === '--set') args.set.push(v);
  else throw new InputError(f, `unknown option or bad value ${JSON.stringify(v)} (see the comment at the top of scripts/bench-demo.ts)`);
}

const work = args.work || mkdtempSync(path.join(tmpdir(), 'bench-demo-'));
const t0 = performance.now();
const say = (s: string) => process.stderr.write(`${((performance.now() - t0) / 1000).toFixed(0).padStart(5)}s ${s}\n`);
const gpu = await createNodeGpu();
const runs: { seed: number; s: DemoSummary }[] = [];
try {
  for (const seed of args.seeds) {
    say(`seed ${seed}`);
    const s = await runDemoCommand(
      'vqa-closed',
      {
        dataDir: args.dataDir,
        out: path.join(work, `seed-${seed}`),
        seed: String(seed),
        quiet: true,
        force: true,
        grpoSteps: String(args.grpoSteps),
        set: args.set,
      },
      { gpu, handleSignals: false, log: (l) => say(`  ${l}`) },
    );
    runs.push({ seed, s });
  }
} finally {
  gpu.destroy();
}

const pct = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1)) : 0;
  return `${(100 * m).toFixed(1)} ± ${(100 * sd).toFixed(1)}`;
};
const L: string[] = ['# `thinker demo vqa-closed`, measured', ''];
L.push(
  `Measured ${new Date().toISOString().slice(0, 10)} by \`npx tsx scripts/bench-demo.ts --seeds ${args.seeds.join(',')}${args.grpoSteps ? ` --grpo-steps ${args.grpoSteps}` : ''}\` ` +
    `on ${gpu.info.description || gpu.info.vendor || 'WebGPU'} (${gpu.rowKernels ? 'CPU-adapter row kernels' : 'GPU workgroup kernels'}). ` +
    "Greedy accuracy (%) on the closed test questions by the paper's grader, mean ± sample std over the seeds.",
  '',
);
L.push('| benchmark | items | model | majority | blind (blank images) |', '| --- | --- | --- | --- | --- |');
for (const [key, name] of [
  ['vqa_rad', 'VQA-RAD'],
  ['slake', 'SLAKE'],
] as const) {
  const xs = runs.map((r) => r.s[key]);
  L.push(
    `| ${name} | ${xs[0].n} | ${pct(xs.map((x) => x.accuracy))} | ${(100 * xs[0].majority).toFixed(1)} ("${xs[0].majority_answer}") | ${pct(xs.map((x) => x.blind))} |`,
  );
}
L.push('', '| seed | VQA-RAD model / blind | SLAKE model / blind | minutes |', '| --- | --- | --- | --- |');
for (const r of runs) {
  const f = (x: number) => (100 * x).toFixed(1);
  L.push(
    `| ${r.seed} | ${f(r.s.vqa_rad.accuracy)} / ${f(r.s.vqa_rad.blind)} | ${f(r.s.slake.accuracy)} / ${f(r.s.slake.blind)} | ${(r.s.seconds / 60).toFixed(1)} |`,
  );
}
L.push(
  '',
  `Model: ${runs[0].s.sft.params.toLocaleString('en-US')} parameters, ${runs[0].s.sft.steps} SFT steps on ${runs[0].s.sft.train_items} training questions` +
    `${args.grpoSteps ? `, then ${args.grpoSteps} GRPO steps` : ''}${args.set.length ? `; overrides ${args.set.map((s) => `\`${s}\``).join(', ')}` : ''}.`,
  '',
);
const md = L.join('\n');
if (args.out) writeFileSync(args.out, md);
process.stdout.write(md);
if (!args.work) rmSync(work, { recursive: true, force: true });
process.exit(0);
