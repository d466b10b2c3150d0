// The paper's comparisons at small scale on the synth curriculum (recipe.md §7: "RLVR beats SFT;
// RL on text-only reasoning data transfers to image questions; difficulty filtering matters"),
// each run with every seed listed, written as a markdown table with the seeds and settings.
//
//   npx tsx scripts/bench-recipe.ts [--seeds 1,2,3] [--out docs/recipe-results.md] [--work DIR]
//     [--sft-steps N] [--grpo-steps N] [--items N] [--grpo-items N] [--held-out N] [--k N]
//     [--set-sft key=value ...] [--set-grpo key=value ...] [--filter-pool N] [--reuse-sft]
//     [--noisy-kind conclusion|misreading] [--noisy-fraction 0.75] [--image-templates chest_presence,chest_locate]
//     [--arms mixed,text,image,text-filtered,mixed-filtered]
//
// Per seed, one start model and six arms (the start model's own score among them), all scored on
// the same held-out items (synth test split: text and image questions, reported apart):
//   SFT                   `thinker sft` on mixed synth items (triage notes as text + chest scans,
//                         vision encoder on) from a teacher with a blind spot on each kind: the
//                         start model of every RL arm.
//   SFT -> RL (mixed)     `thinker grpo` from it on the first --grpo-items questions of both kinds.
//   SFT -> RL (text)      the same on text questions only (does text RL carry over to the scans?).
//   SFT -> RL (image)     the same on scan questions only.
//   SFT -> RL (text, filtered)  on as many text questions drawn from those whose pass count (k
//                         samples of the start model, recipe §2) is in 1..k-1, same steps.
//   SFT -> RL (mixed, filtered)  the paper's whole recipe: every question of both kinds among the
//                         first --filter-pool of the mixed pool whose pass count is in 1..k-1,
//                         with the settings of FILTERED_MIXED (more prompts a step, a lower lr).
// --reuse-sft takes a seed's SFT run from --work when it finished there (same steps), so a rerun
// of the RL arms does not retrain it (it checks the step count only: leave it off after changing
// --set-sft or --items).
// Everything goes through the commands a person runs (in-process, one device), with the settings
// of the SFT and GRPO presets named below plus the overrides printed in the report.
import './raw-imports';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

// Engine modules load after ./raw-imports has registered the `?raw` WGSL hook.
const { runSftCommand } = await import('../src/cli/commands/sft');
const { runGrpoCommand } = await import('../src/cli/commands/grpo');
const { createNodeGpu } = await import('../src/node/dawn');
const { loadModel } = await import('../src/node/checkpoint');
const { loadTokenizer } = await import('../src/io/tokenizer');
const { nodeDirSource } = await import('../src/io/workspace');
const { generateSynth } = await import('../src/data/synth');
const { passCounts, curate } = await import('../src/recipe/curate');
const { recipeRow } = await import('../src/data/loaders/recipe');
const { MetricsLog } = await import('../src/recipe/run-io');
const { nodeWorkspace } = await import('../src/io/workspace');
const { SFT_PRESETS, applyOverrides } = await import('../src/recipe/sft-config');
const { GRPO_PRESETS, applyGrpoOverrides } = await import('../src/recipe/grpo-config');
const { InputError } = await import('../src/engine/errors');
type QAItem = import('../src/task/schema').QAItem;
type SftSummary = import('../src/cli/commands/sft').SftSummary;
type GrpoSummary = import('../src/cli/commands/grpo').GrpoSummary;

// ---------------------------------------------------------------------------------------------
// Settings

const SFT_PRESET = 'synth-micro-noisy';
const GRPO_PRESET = 'synth-micro-noisy';
/**
 * The synth items every arm draws from: triage notes (text) and nodule presence (scan) questions,
 * level 1. The notes use words, not numbers: a from-scratch model of this size learns to read words
 * and scans within the SFT budget, not yet to read or copy numbers (on `triage` it wrote one made-up
 * value for every patient), and a comparison of RL arms needs a start model that reads its inputs.
 */
const TEXT_TEMPLATE = 'triage_signs';
/**
 * Scan questions: `chest_presence` carries the blind spot; `chest_locate` (Which lung has nodules?,
 * the teacher always right) is the other half of the scans from 2026-12-07 on (--image-templates
 * chest_presence for the earlier design), so a student that copies the blind spot exactly still
 * reads most scans: with the presence questions alone, copying it leaves about 69% of them right.
 */
const IMAGE_TEMPLATES = ['chest_presence', 'chest_locate'];
const DATA_SEED = 1;
/**
 * The teacher's blind spots: on this share of the items whose correct answer is the one named (yellow
 * patients; nodules in the left lung) its trace concludes with another option, and SFT trains on its
 * conclusions (data.answer "trace"). How it is wrong is --noisy-kind: 'misreading' (it misreads the
 * input, "temperature normal", "no nodules", and reasons on from it) or 'conclusion' (the default:
 * every step right, "It has 1 nodule.", then the wrong letter). A misreading leaves the student
 * weakly taught to tell the misread inputs apart, and GRPO at this scale moved the answer prior
 * instead of teaching that reading (docs/recipe-results.md, follow-up); a wrong conclusion after
 * right steps is a mapping the student's own context supports, which is what RL corrects here. A random slip averages
 * out under greedy decoding; a systematic one is what a student copies and a verifiable reward can
 * correct. The scans' blind spot is tied to what is asked: one on every "Yes" (the first design)
 * makes "No" the majority label of every scan, so a student that reads the scans perfectly still
 * answers "No" to all of them (28.1% on every seed); missing left-lung nodules leaves the right
 * lung's questions and the clear left lungs to be read, and about a quarter of the scans wrong.
 */
/**
 * 75%: the blind spot must be one SFT copies under greedy decoding on every seed, or there is nothing
 * for RL to fix. At 60% (2026-12-08, batch 32) seed 3's SFT answered all 17 blind-spot notes right
 * (the teacher's wrong letter got less than half the student's probability) and the curated mixed
 * arm gained +13.0 ± 6.6; at 75% every seed copied both blind spots (0 of 17 notes, 0 of 8 scans)
 * and it gained +17.4 ± 3.6. The student still samples the right letter about a quarter of the time,
 * which is GRPO's signal: on seed 2 that was too little to flip the scans in 12 steps.
 */
const NOISY_FRACTION = 0.75;
const BLIND_SPOT: Record<'text' | 'image', { answers: string[]; questions?: string[]; about: string }> = {
  text: { answers: ['Yellow'], about: 'text items whose answer is "Yellow"' },
  image: { answers: ['Yes'], questions: ['left lung'], about: 'scans asked about the left lung whose answer is "Yes"' },
};
/**
 * The curated mixed arm's GRPO settings. Measured on seed 3 (SwiftShader, 2026-12-07): at the
 * preset's lr 5e-4, on 32 scans half in the blind spot, every scan was answered "Yes" by step 2
 * (blind spot 1 -> 10 of 10, the other scans 22 -> 7 of 22 by step 4): the answer's prior moves far faster
 * than the reading of the left lung it depends on. At 1e-4 the other scans stayed read; on a
 * curated pool of both kinds 2e-4 and 8 prompts a step fixed the notes' blind spot by step 4
 * (25 -> 32 of 32) with the scans unchanged. With the unfaithful teacher (the default since), 24
 * steps instead of 12 reached the same held-out scores on seeds 2 and 3 (one more blind-spot scan
 * of 8 on seed 2, one fewer located scan).
 */
const FILTERED_MIXED = { lr: 2e-4, promptsPerStep: 8, steps: 12 };
/**
 * The SFT start model's batch and lr. At batch 8 the scans were read and then lost again (62% -> 38%
 * held-out between steps 80 and 120, chest scans alone); batch 16 read presence questions on 3 seeds
 * of 3, but with locate questions beside them seed 1 never read the scans in 240 steps (45.3%: "no
 * nodules" to every presence question), nor at lr 3e-3. At batch 32 (twice the examples, ~13 min
 * of SFT here instead of ~7) all three seeds read them (2026-12-08: 85.9, 87.5 and 87.5% of the
 * held-out scans with the teacher wrong on 60%; 79.7, 87.5 and 87.5% at 75%).
 */
const SFT_SETTINGS = { batchSize: 32, lr: 2e-3 };
const inBlindSpot = (it: QAItem) => {
  const b = BLIND_SPOT[it.images.length > 0 ? 'image' : 'text'];
  return b.answers.includes(it.answer) && (!b.questions || b.questions.some((q) => it.question.includes(q)));
};

interface Args {
  seeds: number[];
  out: string;
  work: string;
  keepWork: boolean;
  sftSteps: number;
  grpoSteps: number;
  /** Training items per kind (text, image). */
  perKind: number;
  /** Prompts each RL arm trains on (a small set seen several times, as in the learning proof). */
  grpoItems: number;
  /** Held-out items per kind (64: at 32 the scans held as few as 4 blind-spot items). */
  heldOutPerKind: number;
  /** Samples per item for the pass counts (recipe: 16). */
  k: number;
  setSft: string[];
  setGrpo: string[];
  /** Items at the head of the mixed pool whose pass counts choose the curated mixed arm's prompts. */
  filterPool: number;
  reuseSft: boolean;
  /** The RL arms to run (--arms; default all). */
  arms: Set<Arm>;
  /** Scan templates, the first with the blind spot. */
  imageTemplates: string[];
  /** How the teacher's blind-spot traces are wrong (synth noisyKind). */
  noisyKind: 'misreading' | 'conclusion';
  /** The share of blind-spot items whose trace is wrong (synth noisyFraction). */
  noisyFraction: number;
  /** The options given, for the report (without --out and --work, which only say where). */
  given: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    seeds: [1, 2, 3],
    out: '',
    work: '',
    keepWork: false,
    sftSteps: 240,
    grpoSteps: 8,
    perKind: 1000,
    grpoItems: 16,
    heldOutPerKind: 64,
    k: 4,
    setSft: [],
    setGrpo: [],
    filterPool: 400,
    reuseSft: false,
    noisyKind: 'conclusion',
    noisyFraction: NOISY_FRACTION,
    imageTemplates: IMAGE_TEMPLATES,
    arms: new Set(ARMS),
    given: argv.filter((x, i) => !['--out', '--work'].includes(x) && !['--out', '--work'].includes(argv[i - 1])).join(' '),
  };
  const int = (flag: string, v: string | undefined, min: number) => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min) throw new InputError(flag, `expects an integer >= ${min}, got ${JSON.stringify(v)}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    const v = argv[i + 1];
    switch (f) {
      case '--seeds':
        if (!v || !/^\d+(,\d+)*$/.test(v)) throw new InputError('--seeds', `expects a comma-separated list of integers, got ${JSON.stringify(v)}`);
        a.seeds = v.split(',').map(Number);
        i++;
        break;
      case '--out':
        if (!v) throw new InputError('--out', 'expects a file');
        a.out = v;
        i++;
        break;
      case '--work':
        if (!v) throw new InputError('--work', 'expects a folder');
        a.work = v;
        a.keepWork = true;
        i++;
        break;
      case '--sft-steps':
        a.sftSteps = int(f, v, 1);
        i++;
        break;
      case '--grpo-steps':
        a.grpoSteps = int(f, v, 1);
        i++;
        break;
      case '--items':
        a.perKind = int(f, v, 2);
        i++;
        break;
      case '--grpo-items':
        a.grpoItems = int(f, v, 1);
        i++;
        break;
      case '--held-out':
        a.heldOutPerKind = int(f, v, 1);
        i++;
        break;
      case '--k':
        a.k = int(f, v, 2);
        i++;
        break;
      case '--filter-pool':
        a.filterPool = int(f, v, 2);
        i++;
        break;
      case '--image-templates':
        if (!v || !/^[a-z_]+(,[a-z_]+)*$/.test(v)) throw new InputError(f, `expects a comma-separated list of image template names, got ${JSON.stringify(v)}`);
        a.imageTemplates = v.split(',');
        i++;
        break;
      case '--arms': {
        const names = (v ?? '').split(',');
        const pick = names.map((n) => ARMS.find((arm) => armName(arm) === n));
        if (!v || pick.some((x) => !x))
          throw new InputError(f, `expects a comma-separated list of ${ARMS.slice(1).map(armName).join(', ')}; got ${JSON.stringify(v)}`);
        a.arms = new Set(['SFT', ...(pick as Arm[])]);
        i++;
        break;
      }
      case '--noisy-kind':
        if (v !== 'misreading' && v !== 'conclusion') throw new InputError(f, `expects misreading or conclusion, got ${JSON.stringify(v)}`);
        a.noisyKind = v;
        i++;
        break;
      case '--noisy-fraction': {
        const x = Number(v);
        if (v === undefined || !(x > 0 && x <= 1)) throw new InputError(f, `expects a share in (0, 1], got ${JSON.stringify(v)}`);
        a.noisyFraction = x;
        i++;
        break;
      }
      case '--reuse-sft':
        a.reuseSft = true;
        break;
      case '--set-sft':
        if (!v) throw new InputError(f, 'expects key=value');
        a.setSft.push(v);
        i++;
        break;
      case '--set-grpo':
        if (!v) throw new InputError(f, 'expects key=value');
        a.setGrpo.push(v);
        i++;
        break;
      case '--help':
      case '-h':
        process.stdout.write(
          readFileSync(new URL(import.meta.url), 'utf8')
            .split('\n')
            .filter((l) => l.startsWith('//'))
            .map((l) => l.slice(3))
            .join('\n') + '\n',
        );
        process.exit(0);
        break;
      default:
        throw new InputError(f, 'unknown option (see --help)');
    }
  }
  return a;
}

// ---------------------------------------------------------------------------------------------
// Data on disk: the recipe's JSONL with the scans beside it, so every arm reads the same items.

async function writeItems(dataDir: string, file: string, items: QAItem[]): Promise<string> {
  for (const it of items) {
    for (const im of it.images) {
      const p = path.join(dataDir, im.name);
      mkdirSync(path.dirname(p), { recursive: true });
      writeFileSync(p, await im.load());
    }
  }
  const out = path.join(dataDir, file);
  writeFileSync(out, items.map((it) => JSON.stringify(recipeRow(it))).join('\n') + '\n');
  return out;
}

interface Pools {
  train: string;
  text: string;
  image: string;
  heldOut: string;
  textItems: QAItem[];
  /** Text and scan items alternating, as in the `train` file. */
  mixedItems: QAItem[];
  heldOutItems: QAItem[];
}

async function writePools(dataDir: string, a: Args): Promise<Pools> {
  const gen = (kind: 'text' | 'image', templates: string[], split: 'train' | 'test', n: number) =>
    generateSynth({
      n,
      kind,
      level: 1,
      seed: DATA_SEED,
      split,
      templates,
      fixedOptionOrder: true,
      noisyFraction: a.noisyFraction,
      noisyAnswers: BLIND_SPOT[kind].answers,
      noisyQuestions: BLIND_SPOT[kind].questions,
      noisyKind: a.noisyKind,
    });
  const text = await gen('text', [TEXT_TEMPLATE], 'train', a.perKind);
  const image = await gen('image', a.imageTemplates, 'train', a.perKind);
  // Interleaved, so a prefix of the file (data.file.limit) keeps both kinds.
  const train = text.flatMap((t, i) => [t, image[i]]);
  const heldOut = [...(await gen('text', [TEXT_TEMPLATE], 'test', a.heldOutPerKind)), ...(await gen('image', a.imageTemplates, 'test', a.heldOutPerKind))];
  return {
    train: await writeItems(dataDir, 'train-mixed.jsonl', train),
    text: await writeItems(dataDir, 'train-text.jsonl', text),
    image: await writeItems(dataDir, 'train-image.jsonl', image),
    heldOut: await writeItems(dataDir, 'held-out.jsonl', heldOut),
    textItems: text,
    mixedItems: train,
    heldOutItems: heldOut,
  };
}

// ---------------------------------------------------------------------------------------------
// Scores

interface Score {
  text: number;
  image: number;
  /** Accuracy on the held-out items of each kind outside and inside the teacher's blind spot. */
  textRest: number;
  textSpot: number;
  imageRest: number;
  imageSpot: number;
  format: number;
  reward: number;
}

/** Accuracy per kind (and in and out of the blind spot) and format rate from the last evaluation of a run (every held-out response is kept as a sample). */
async function lastEval(runDir: string, heldOut: QAItem[]): Promise<Score> {
  const rows = await MetricsLog.read(nodeWorkspace(runDir), 'metrics.jsonl');
  const ev = rows.filter((r) => r.type === 'eval').pop();
  if (!ev) throw new Error(`${runDir}: no evaluation in metrics.jsonl`);
  const samples = ev.samples as { index: number; correct: boolean; format: boolean }[];
  if (samples.length !== heldOut.length) throw new Error(`${runDir}: ${samples.length} evaluation samples for ${heldOut.length} held-out items`);
  const acc = (image: boolean, spot?: boolean) => {
    const s = samples.filter((x) => heldOut[x.index].images.length > 0 === image && (spot === undefined || inBlindSpot(heldOut[x.index]) === spot));
    return s.filter((x) => x.correct).length / Math.max(1, s.length);
  };
  return {
    text: acc(false),
    image: acc(true),
    textRest: acc(false, false),
    textSpot: acc(false, true),
    imageRest: acc(true, false),
    imageSpot: acc(true, true),
    format: ev.format_rate as number,
    reward: ev.reward_mean as number,
  };
}

const ARMS = ['SFT', 'SFT -> RL (mixed)', 'SFT -> RL (text)', 'SFT -> RL (image)', 'SFT -> RL (text, filtered)', 'SFT -> RL (mixed, filtered)'] as const;
type Arm = (typeof ARMS)[number];
/** An arm's name on the command line (--arms): "SFT -> RL (text, filtered)" is text-filtered. */
const armName = (arm: Arm) =>
  arm
    .replace(/^SFT( -> RL \()?/, '')
    .replace(/\)$/, '')
    .replace(', ', '-');
/** An arm's run folder under seed-N: "SFT -> RL (text)" runs in sft-rl-text-, the start model in sft. */
const armDir = (arm: Arm) => arm.replace(/[^a-z]+/gi, '-').toLowerCase();

interface SeedResult {
  seed: number;
  scores: Partial<Record<Arm, Score>>;
  filtered: { kept: number; total: number; histogram: number[] };
  /** The curated mixed pool: items kept of each kind. */
  filteredMixed: { text: number; image: number; total: number };
  seconds: number;
}

// ---------------------------------------------------------------------------------------------
// One seed

async function runSeed(
  seed: number,
  a: Args,
  pools: Pools,
  work: string,
  gpu: Awaited<ReturnType<typeof createNodeGpu>>,
  say: (s: string) => void,
): Promise<SeedResult> {
  const t0 = performance.now();
  const dir = path.join(work, `seed-${seed}`);
  const log = (l: string) => say(`  [seed ${seed}] ${l}`);
  const nHeld = pools.heldOutItems.length;
  const evalSets = [`eval.items=${nHeld}`, `eval.batchSize=${Math.min(nHeld, 32)}`, `eval.samples=${nHeld}`, 'eval.every=0'];

  // The work folder is this script's scratch: a rerun with the same --work replaces its runs (force),
  // or, with --reuse-sft, keeps a finished SFT run of the same length.
  const sftDir = path.join(dir, 'sft');
  const done = a.reuseSft ? finishedSft(sftDir, a.sftSteps) : null;
  if (done) log(`reusing the finished SFT run ${done}`);
  const sftCheckpoint =
    done ??
    (await runSftCommand(
      {
        config: SFT_PRESET,
        out: sftDir,
        force: true,
        seed: String(seed),
        steps: String(a.sftSteps),
        quiet: true,
        set: [
          'data.source=file',
          `data.file.path=${JSON.stringify(pools.train)}`,
          `data.file.evalPath=${JSON.stringify(pools.heldOut)}`,
          'data.answer=trace',
          'model.vision=on',
          `batchSize=${SFT_SETTINGS.batchSize}`,
          `lr=${SFT_SETTINGS.lr}`,
          ...evalSets,
          ...a.setSft,
        ],
      },
      { gpu, handleSignals: false, log },
    ).then((r) => (r as SftSummary).checkpoint));
  const scores: SeedResult['scores'] = { SFT: await lastEval(sftDir, pools.heldOutItems) };
  if (!sftCheckpoint) throw new Error(`seed ${seed}: the SFT run wrote no checkpoint`);
  const start = path.resolve(sftDir, path.basename(sftCheckpoint));

  // Pass counts of the start model on the text pool: k samples each at temperature 1 (recipe §2).
  // And on the head of the mixed pool, both kinds, for the curated mixed arm.
  const { model } = await loadModel(gpu, start);
  let kept: QAItem[];
  let keptMixed: QAItem[];
  let histogram: number[];
  const mixedPool = pools.mixedItems.slice(0, a.filterPool);
  try {
    const tok = await loadTokenizer(nodeDirSource(start), start);
    const filter = async (items: QAItem[]) => {
      const counts = await passCounts(model, tok, items, { k: a.k, maxNewTokens: 48, batchSize: 32, seed });
      return curate(counts, { k: a.k, lo: 1, hi: a.k - 1, order: 'shuffle', seed: 42 });
    };
    // Each pool's pass counts only when its arm runs (the text pool's are most of the cost).
    const r = a.arms.has('SFT -> RL (text, filtered)') ? await filter(pools.textItems) : null;
    kept = r ? r.kept.map((e) => e.item) : [];
    histogram = r ? r.histogram.map((b) => b.items) : [];
    keptMixed = a.arms.has('SFT -> RL (mixed, filtered)') ? (await filter(mixedPool)).kept.map((e) => e.item) : [];
  } finally {
    model.release();
  }
  if (histogram.length)
    log(`pass counts (k ${a.k}) of the text pool: ${histogram.map((n, c) => `${c}:${n}`).join(' ')}; kept ${kept.length} of ${pools.textItems.length}`);
  const filteredMixed = {
    text: keptMixed.filter((it) => it.images.length === 0).length,
    image: keptMixed.filter((it) => it.images.length > 0).length,
    total: mixedPool.length,
  };
  log(`curated mixed pool: ${filteredMixed.text} notes + ${filteredMixed.image} scans kept of the first ${mixedPool.length} items`);
  const filteredFile = kept.length ? await writeItems(path.join(work, 'data'), `train-text-filtered-seed${seed}.jsonl`, kept) : '';
  const filteredMixedFile = keptMixed.length ? await writeItems(path.join(work, 'data'), `train-mixed-filtered-seed${seed}.jsonl`, keptMixed) : '';

  /** One RL arm; `whole` trains on every item of the file with the FILTERED_MIXED settings. */
  const grpo = async (arm: Arm, file: string, whole = false) => {
    if (!a.arms.has(arm)) return;
    const out = path.join(dir, armDir(arm));
    (await runGrpoCommand(
      {
        config: GRPO_PRESET,
        model: start,
        out,
        force: true,
        seed: String(seed),
        steps: String(whole ? FILTERED_MIXED.steps : a.grpoSteps),
        quiet: true,
        set: [
          'data.source=file',
          `data.file.path=${JSON.stringify(file)}`,
          `data.file.evalPath=${JSON.stringify(pools.heldOut)}`,
          `data.file.limit=${whole ? 0 : a.grpoItems}`,
          ...(whole ? [`lr=${FILTERED_MIXED.lr}`, `promptsPerStep=${FILTERED_MIXED.promptsPerStep}`] : []),
          'eval.atStart=false',
          ...evalSets,
          ...a.setGrpo,
        ],
      },
      { gpu, handleSignals: false, log },
    )) as GrpoSummary;
    scores[arm] = await lastEval(out, pools.heldOutItems);
  };
  await grpo('SFT -> RL (mixed)', pools.train);
  await grpo('SFT -> RL (text)', pools.text);
  await grpo('SFT -> RL (image)', pools.image);
  if (filteredFile) await grpo('SFT -> RL (text, filtered)', filteredFile);
  else if (a.arms.has('SFT -> RL (text, filtered)')) log('no text item has a pass count in the keep window: the filtered arm has no data for this seed');
  if (filteredMixedFile) await grpo('SFT -> RL (mixed, filtered)', filteredMixedFile, true);
  else if (a.arms.has('SFT -> RL (mixed, filtered)')) log('no mixed item has a pass count in the keep window: the curated mixed arm has no data for this seed');
  return { seed, scores, filtered: { kept: kept.length, total: pools.textItems.length, histogram }, filteredMixed, seconds: (performance.now() - t0) / 1000 };
}

/** The checkpoint of a finished SFT run of `steps` steps in `dir`, or null. */
function finishedSft(dir: string, steps: number): string | null {
  try {
    const s = JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8')) as { step?: number; stopped?: string; checkpoint?: string };
    return s.step === steps && s.stopped === 'completed' && s.checkpoint ? s.checkpoint : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Report

const pct = (xs: number[]) => {
  if (xs.length === 0) return 'n/a';
  const m = xs.reduce((s, x) => s + x, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1)) : 0;
  return `${(100 * m).toFixed(1)} ± ${(100 * sd).toFixed(1)}`;
};

function report(
  a: Args,
  heldOut: QAItem[],
  results: SeedResult[],
  settings: { sft: unknown; grpo: unknown },
  meta: { adapter: string; seconds: number; date: string },
): string {
  const L: string[] = [];
  L.push('# Recipe comparisons on synth (small scale)', '');
  L.push(
    `Measured ${meta.date} by \`npx tsx scripts/bench-recipe.ts ${a.given || `--seeds ${a.seeds.join(',')}`}\` on ${meta.adapter}; ` +
      `${(meta.seconds / 60).toFixed(1)} min in all. Held-out accuracy (%) by the paper's grader and format rate (%) by the reward's gate, ` +
      `greedy decoding, mean ± sample std over the seeds ${results.map((r) => r.seed).join(', ')} ` +
      `(n = ${results.length}${results.length < a.seeds.length ? ` of the ${a.seeds.length} asked; the rest had not finished` : ''}).`,
    '',
  );
  const spots = (image: boolean) => {
    const h = heldOut.filter((it) => it.images.length > 0 === image);
    return `${h.filter(inBlindSpot).length} of ${h.length}`;
  };
  L.push(
    `| arm | text accuracy | image accuracy | text, blind spot (${spots(false)}) | image, blind spot (${spots(true)}) | image, rest | format | runs |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const arm of ARMS) {
    const s = results.map((r) => r.scores[arm]).filter((x): x is Score => !!x);
    L.push(
      `| ${arm} | ${pct(s.map((x) => x.text))} | ${pct(s.map((x) => x.image))} | ${pct(s.map((x) => x.textSpot))} | ${pct(s.map((x) => x.imageSpot))} | ${pct(s.map((x) => x.imageRest))} | ${pct(s.map((x) => x.format))} | ${s.length} |`,
    );
  }
  const mixed = (x: Score) => (x.text + x.image) / 2;
  const gainOf = (arm: Arm) => results.filter((r) => r.scores.SFT && r.scores[arm]).map((r) => mixed(r.scores[arm]!) - mixed(r.scores.SFT!));
  for (const arm of ['SFT -> RL (mixed)', 'SFT -> RL (mixed, filtered)'] as const) {
    const gain = gainOf(arm);
    if (gain.length) L.push('', `Mixed held-out accuracy (text and image averaged), ${arm} minus SFT: ${pct(gain)} points (n = ${gain.length}).`);
  }
  L.push('', 'Per seed (text / image accuracy, format, %):', '');
  L.push(
    `| seed | ${ARMS.join(' | ')} | filtered items kept | curated mixed pool | minutes |`,
    `| --- | ${ARMS.map(() => '---').join(' | ')} | --- | --- | --- |`,
  );
  for (const r of results) {
    const cell = (arm: Arm) => {
      const s = r.scores[arm];
      return s ? `${(100 * s.text).toFixed(0)} / ${(100 * s.image).toFixed(0)}, ${(100 * s.format).toFixed(0)}` : 'n/a';
    };
    L.push(
      `| ${r.seed} | ${ARMS.map(cell).join(' | ')} | ${r.filtered.histogram.length ? `${r.filtered.kept} of ${r.filtered.total} (pass counts 0..${a.k}: ${r.filtered.histogram.join(', ')})` : 'n/a'} | ${r.scores['SFT -> RL (mixed, filtered)'] ? `${r.filteredMixed.text} notes + ${r.filteredMixed.image} scans of ${r.filteredMixed.total}` : 'n/a'} | ${(r.seconds / 60).toFixed(1)} |`,
    );
  }
  L.push('', '## Settings', '');
  L.push(
    `- Items: synth level 1, data seed ${DATA_SEED}; training pools of ${a.perKind} \`${TEXT_TEMPLATE}\` (text) and ${a.perKind} ${a.imageTemplates.map((t) => `\`${t}\``).join(' + ')} (scan) questions; ` +
      `held-out: ${a.heldOutPerKind} of each from the test split, options in fixed order. The teacher has blind spots: ${a.noisyKind === 'misreading' ? 'it misreads' : 'its conclusion does not follow from its (right) steps on'} ${a.noisyFraction * 100}% of the ${BLIND_SPOT.text.about} and of the ${BLIND_SPOT.image.about} (synth noisyKind "${a.noisyKind}"), and SFT trains on its conclusions (data.answer "trace").`,
  );
  // From the resolved config, so that --set-sft overrides show here too.
  const sft = settings.sft as { batchSize?: number; lr?: number } | undefined;
  L.push(
    `- SFT: preset \`${SFT_PRESET}\` at batch ${sft?.batchSize ?? SFT_SETTINGS.batchSize} and lr ${sft?.lr ?? SFT_SETTINGS.lr}, ${a.sftSteps} steps, on both pools with the vision encoder on; seed = the run's seed.`,
  );
  L.push(
    `- RL: preset \`${GRPO_PRESET}\`, ${a.grpoSteps} steps from the SFT checkpoint on ${a.grpoItems} prompts of the pool; filtered = ${a.grpoItems} of the text items with pass count 1..${a.k - 1} of k = ${a.k} samples of the SFT model (temperature 1), shuffled with seed 42. ` +
      `Curated mixed = every item of both kinds among the first ${a.filterPool} of the mixed pool whose pass count is 1..${a.k - 1}, ` +
      `${FILTERED_MIXED.steps} steps of ${FILTERED_MIXED.promptsPerStep} prompts at lr ${FILTERED_MIXED.lr} (cosine).`,
  );
  if (a.setSft.length) L.push(`- SFT overrides: ${a.setSft.map((s) => `\`${s}\``).join(', ')}`);
  if (a.setGrpo.length) L.push(`- GRPO overrides: ${a.setGrpo.map((s) => `\`${s}\``).join(', ')}`);
  L.push(
    '',
    '<details><summary>Resolved configs (seed ' + results[0]?.seed + ')</summary>',
    '',
    '```json',
    JSON.stringify(settings, null, 1),
    '```',
    '',
    '</details>',
    '',
  );
  return L.join('\n');
}

// ---------------------------------------------------------------------------------------------

const args = parseArgs(process.argv.slice(2));
// Both presets exist and the overrides are valid before anything runs.
applyOverrides(structuredClone(SFT_PRESETS[SFT_PRESET].config), args.setSft, '--set-sft');
applyGrpoOverrides(structuredClone(GRPO_PRESETS[GRPO_PRESET].config), args.setGrpo, '--set-grpo');
const work = args.work ? path.resolve(args.work) : mkdtempSync(path.join(tmpdir(), 'bench-recipe-'));
const t0 = performance.now();
const say = (s: string) => process.stderr.write(`${((performance.now() - t0) / 1000).toFixed(0).padStart(5)}s ${s}\n`);
say(`work folder ${work}; seeds ${args.seeds.join(', ')}`);
const pools = await writePools(path.join(work, 'data'), args);
const gpu = await createNodeGpu();
const results: SeedResult[] = [];
/** The resolved config of a run of the first seed; null where it did not run (not asked, or no data). */
const cfgOf = (dir: string) => {
  const file = path.join(work, `seed-${args.seeds[0]}`, dir, 'run_config.json');
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : null;
};
const md = () =>
  report(
    args,
    pools.heldOutItems,
    results,
    {
      sft: cfgOf('sft'),
      grpo:
        ARMS.slice(1)
          .filter((arm) => args.arms.has(arm))
          .map((arm) => cfgOf(armDir(arm)))
          .find((c) => c) ?? null,
    },
    {
      adapter: gpu.info.description || gpu.info.vendor || 'WebGPU',
      seconds: (performance.now() - t0) / 1000,
      date: new Date().toISOString().slice(0, 10),
    },
  );
try {
  for (const seed of args.seeds) {
    results.push(await runSeed(seed, args, pools, work, gpu, say));
    const r = results[results.length - 1];
    say(
      `seed ${seed} done in ${(r.seconds / 60).toFixed(1)} min: ${ARMS.map((arm) => `${arm} ${r.scores[arm] ? `${(100 * r.scores[arm]!.text).toFixed(0)}/${(100 * r.scores[arm]!.image).toFixed(0)}` : 'n/a'}`).join('; ')}`,
    );
    // The report so far after every seed: a long run cut off keeps the seeds it finished.
    if (args.out) {
      writeFileSync(args.out, md());
      say(`wrote ${args.out} (${results.length} of ${args.seeds.length} seeds)`);
    }
  }
  process.stdout.write(md());
} finally {
  gpu.destroy();
  if (!args.keepWork) rmSync(work, { recursive: true, force: true });
}
// Dawn keeps the event loop alive after the device is gone.
process.exit(0);
