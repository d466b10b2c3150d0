// Can a lab-sized vision encoder read the synth scans, and how far from the answer may the image
// be? A probe (not a test) behind the README's "why the scans are not learned": it trains a model
// of the synth-micro-noisy text size with the micro vision encoder on sequences
//   [--before other tokens] [image tokens] [--filler other tokens] [question token] [Yes/No token]
// built from real synth scans (one template, level 1), loss on the answer only, and prints the
// held-out answer loss (chance: ln 2 = 0.693).
//
//   npx tsx scripts/probe-vision.ts [--template effusion_presence] [--filler 0] [--before 0] [--steps 300]
//     [--items 400] [--batch 16] [--lr 3e-3] [--warmup 0.05] [--seed 3] [--init fan-in|0.02] [--json]
//
// The lr follows the recipe's cosine schedule with warmup (to 10% of the peak). --init picks the
// initial weights: 'fan-in' (the default of every fresh model, src/model/model.ts initWeights) or a
// fixed std (0.02, the transformers default, stays at chance with 30 tokens before the image).
// --json prints one line: {"heldout_loss": x, "steps": n, ...}.
import './raw-imports';

const { generateSynth } = await import('../src/data/synth/index');
const { encodeImages } = await import('../src/task/encode');
const { createNodeGpu } = await import('../src/node/dawn');
const { Model, initWeights } = await import('../src/model/model');
const { Trainer } = await import('../src/model/trainer');
const { seededRandom } = await import('../src/util/random');
const { PRESETS } = await import('../src/model/config');
const { cosineWithWarmup } = await import('../src/model/schedule');
type ModelConfig = import('../src/model/config').ModelConfig;
type TokenBatch = import('../src/model/batch').TokenBatch;

const opts = { template: 'effusion_presence', filler: 0, before: 0, steps: 300, items: 400, batch: 16, lr: 3e-3, warmup: 0.05, seed: 3, init: 'fan-in' };
const argv = process.argv.slice(2);
const json = argv.includes('--json');
const args = argv.filter((a) => a !== '--json');
const strings = new Set(['template', 'init']);
for (let i = 0; i < args.length; i += 2) {
  const key = args[i].replace(/^--/, '') as keyof typeof opts;
  const v = args[i + 1];
  const bad = !(key in opts) || v === undefined || (!strings.has(key) && !Number.isFinite(Number(v))) || (key === 'init' && v !== 'fan-in' && !(Number(v) > 0));
  if (bad) {
    console.error(
      `probe-vision: bad option ${args[i]} ${v ?? ''} (options: ${Object.keys(opts)
        .map((k) => '--' + k)
        .join(' ')} --json; ` + 'numbers except --template, and --init fan-in or a std > 0)',
    );
    process.exit(2);
  }
  (opts as Record<string, string | number>)[key] = strings.has(key) ? v : Number(v);
}
const log = (line: string) => {
  if (!json) console.log(line);
};

// Tokens: 1 = <image>, 2 = the question, 3/4 = Yes/No, 5.. = filler (a fixed run, like a prompt's text).
const IMAGE = 1,
  QUESTION = 2,
  YES = 3,
  NO = 4,
  FILLER = 5,
  VOCAB = 48;
const cfg: ModelConfig = {
  text: { ...PRESETS.micro.text, vocabSize: VOCAB, hiddenSize: 64, intermediateSize: 128, numHeads: 4, numKvHeads: 2, headDim: 16 },
  vision: PRESETS.micro.vision,
  imageTokenId: IMAGE,
};
const P = (cfg.vision!.imageSize / cfg.vision!.patchSize) ** 2;
const T = opts.before + P + opts.filler + 2;
if (T > cfg.text.maxPositionEmbeddings)
  throw new Error(`--before ${opts.before} --filler ${opts.filler} make ${T} tokens, over the model's ${cfg.text.maxPositionEmbeddings}`);

async function examples(split: 'train' | 'test', n: number) {
  const items = await generateSynth({ kind: 'image', level: 1, n, seed: 1, split, templates: [opts.template], fixedOptionOrder: true });
  return Promise.all(items.map(async (it) => ({ patches: (await encodeImages(it, cfg))[0].patches, yes: it.answer === 'Yes' })));
}
type Example = Awaited<ReturnType<typeof examples>>[number];

function batchOf(xs: Example[]): TokenBatch {
  const B = xs.length,
    per = xs[0].patches.length;
  const ids = new Uint32Array(B * T),
    targets = new Int32Array(B * T).fill(-1),
    patches = new Float32Array(B * per);
  xs.forEach((x, b) => {
    for (let i = 0; i < opts.before; i++) ids[b * T + i] = FILLER + (i % (VOCAB - FILLER));
    const o = b * T + opts.before;
    ids.fill(IMAGE, o, o + P);
    for (let i = 0; i < opts.filler; i++) ids[o + P + i] = FILLER + (i % (VOCAB - FILLER));
    ids[o + P + opts.filler] = QUESTION;
    ids[o + P + opts.filler + 1] = x.yes ? YES : NO;
    targets[o + P + opts.filler] = x.yes ? YES : NO;
    patches.set(x.patches, b * per);
  });
  return { B, T, ids, targets, patches, nImages: B };
}

const train = await examples('train', opts.items);
const heldOut = await examples('test', 64);
const share = (xs: Example[]) => ((100 * xs.filter((x) => x.yes).length) / xs.length).toFixed(0);
log(
  `${opts.template}: ${train.length} training scans (${share(train)}% Yes), 64 held-out (${share(heldOut)}% Yes); ` +
    `${T} tokens per sequence (${opts.before} before the image, ${P} image, ${opts.filler} between it and the question); ${opts.steps} steps of ${opts.batch}, lr ${opts.lr} (cosine), init ${opts.init}`,
);
const gpu = await createNodeGpu();
const model = new Model(gpu, cfg);
model.loadWeights(initWeights(cfg, opts.seed, opts.init === 'fan-in' ? 'fan-in' : Number(opts.init)));
const trainer = new Trainer(model, { lr: opts.lr, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, gradClip: 1 });
const random = seededRandom(opts.seed + 2);
const t0 = performance.now();
const warmup = Math.ceil(opts.warmup * opts.steps);
let held = NaN;
for (let step = 1; step <= opts.steps; step++) {
  const xs = Array.from({ length: opts.batch }, () => train[Math.floor(random() * train.length)]);
  const { loss } = await trainer.trainStep([batchOf(xs)], cosineWithWarmup(step - 1, opts.steps, opts.lr, warmup, 0.1));
  if (step % 50 === 0 || step === opts.steps) {
    held = await trainer.evalLoss(batchOf(heldOut));
    log(`step ${step}: train answer loss ${loss.toFixed(3)}, held-out ${held.toFixed(3)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
}
if (json) {
  console.log(
    JSON.stringify({
      heldout_loss: held,
      steps: opts.steps,
      before: opts.before,
      filler: opts.filler,
      template: opts.template,
      init: opts.init,
      seconds: Math.round((performance.now() - t0) / 1000),
    }),
  );
}
trainer.release();
model.release();
process.exit(0);
