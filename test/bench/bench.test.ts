// The bench on tiny shapes: every section present, every number a positive finite value, and the
// two implementations agreeing where they must (same product, same step-1 loss, same greedy
// tokens). Speeds are never compared.
import { describe, test, expect, vi, afterEach } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { testGpu } from '../helpers/gpu';
import { runBench, benchProfile, type BenchOptions, type BenchResults, type NamedText } from '../../src/bench/run';
import { formatBenchTable, columns } from '../../src/bench/report';
import { GpuTimer, median, sample } from '../../src/bench/timing';
import { registerBench, resolveBenchOptions } from '../../src/cli/commands/bench';
import { CommandStream } from '../../src/engine/stream';
import { Arena } from '../../src/engine/tensor';
import { matmul } from '../../src/engine/kernels/matmul';
import { PRESETS, type TextConfig } from '../../src/model/config';

const text: TextConfig = {
  architecture: 'llama',
  vocabSize: 61,
  hiddenSize: 32,
  intermediateSize: 48,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 8,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  maxPositionEmbeddings: 32,
  tieWordEmbeddings: true,
  qkvBias: false,
  oBias: false,
  mlpBias: false,
};
const toy: NamedText = { name: 'toy', text };

const tinyOptions = (over: Partial<BenchOptions> = {}): BenchOptions => ({
  profile: 'test',
  sections: ['matmul', 'train', 'decode'],
  matmulSizes: [33, 70],
  train: [toy],
  batch: 2,
  seq: 6,
  decode: toy,
  promptLen: 3,
  decodeTokens: 4,
  decodeBatches: [1, 3],
  warmup: 0,
  repeats: 2,
  lr: 1e-3,
  seed: 3,
  tfjs: true,
  ort: true,
  // Its own test below: ORT's WebGPU session compiles for seconds per batch shape on SwiftShader.
  ortWebgpu: false,
  matmulTargetMs: 0,
  ...over,
});

const positive = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;

describe('runBench on tiny shapes', () => {
  let res: BenchResults;

  test('every section runs and every number is positive and finite', async () => {
    const gpu = await testGpu();
    const log: string[] = [];
    res = await runBench(gpu, tinyOptions(), (m) => log.push(m));
    expect(res.errors).toEqual([]);
    expect(res.adapter).toBe(gpu.info);
    expect(log.length).toBeGreaterThan(0);

    expect(res.matmul.map((m) => m.size)).toEqual([33, 70]);
    for (const m of res.matmul) {
      expect(m.flops).toBe(2 * m.size ** 3);
      for (const e of [m.engine!, m.tfjs!]) {
        expect(e).not.toBeNull();
        for (const v of [e.ms, e.wallMs, e.gflops, ...e.samplesMs]) expect(positive(v), `${m.size}: ${v}`).toBe(true);
        expect(e.samplesMs).toHaveLength(2);
        expect(e.iters).toBe(1);
        expect(e.gflops).toBeCloseTo(m.flops / (e.ms * 1e6), 6);
      }
      // Both computed the same product of the same inputs.
      expect(m.maxRelDiff!).toBeLessThan(1e-5);
      // SwiftShader is a CPU adapter: no fp32 peak to compare with, and the workgroup matmul a GPU
      // would run is timed beside the row kernel it runs itself.
      if (gpu.info.cpu) expect(m.engineOfPeak).toBeNull();
      if (gpu.rowKernels) expect(positive(m.engineGpuPath?.gflops)).toBe(true);
      else expect(m.engineGpuPath).toBeNull();
    }

    expect(res.train).toHaveLength(1);
    const t = res.train[0];
    expect([t.preset, t.batch, t.seq, t.tokensPerStep]).toEqual(['toy', 2, 6, 12]);
    expect(positive(t.params)).toBe(true);
    expect(t.kernels).toBe(gpu.rowKernels ? 'rows' : 'workgroup');
    expect(gpu.rowKernels, 'the forced GPU path leaves the adapter as it found it').toBe(gpu.info.cpu);
    const engines = gpu.rowKernels ? [t.engine!, t.engineGpuPath!] : [t.engine!];
    if (!gpu.rowKernels) expect(t.engineGpuPath).toBeNull();
    for (const e of [...engines, t.tfjs!]) {
      expect(e).not.toBeNull();
      for (const v of [e.msPerStep, e.tokensPerS, e.cpuMs, ...e.samplesMs]) expect(positive(v)).toBe(true);
      expect(e.samplesMs).toHaveLength(2);
      expect(e.losses).toHaveLength(2);
      expect(e.tokensPerS).toBeCloseTo(12 / (e.msPerStep / 1000), 6);
      for (const l of e.losses) expect(positive(l)).toBe(true);
    }
    // Step 1 runs the same model from the same weights on the same batch in both implementations.
    // With fan-in init the tied head's logits have variance ~1 (a unit-RMS hidden state against
    // embedding rows of std 1/sqrt(d)), so the loss is ln(V) plus about half of that variance.
    expect(Math.abs(t.engine!.losses[0] - t.tfjs!.losses[0])).toBeLessThan(1e-4);
    // Both kernel paths train the same model: the same losses, step after step.
    if (gpu.rowKernels) t.engine!.losses.forEach((l, i) => expect(Math.abs(l - t.engineGpuPath!.losses[i])).toBeLessThan(1e-4));
    // Where an engine step's time goes: one more step, every dispatch timed, on the path it names.
    expect(t.tfjs!.breakdown).toBeNull();
    if (gpu.hasTimestamps) {
      for (const e of engines) {
        const b = e.breakdown!;
        // Forward, backward, clip and AdamW of a 2-layer model: dozens of dispatches.
        expect(b.dispatches).toBeGreaterThan(30);
        expect(b.gpuMs).toBeGreaterThan(0);
        expect(b.top.length).toBe(6);
        for (let i = 1; i < b.top.length; i++) expect(b.top[i - 1].ms).toBeGreaterThanOrEqual(b.top[i].ms);
        expect(b.top.reduce((a, k) => a + k.ms, 0)).toBeLessThanOrEqual(b.gpuMs + 1e-9);
      }
      // The row kernels' labels name their path (matmul_blocks, rmsnorm.fwd.rows, attn_fwd_vec4_rows).
      const rowLabel = (l: string) => /[._]rows$|^matmul_blocks$/.test(l);
      if (gpu.rowKernels) {
        expect(t.engine!.breakdown!.top.some((k) => rowLabel(k.label))).toBe(true);
        expect(t.engineGpuPath!.breakdown!.top.some((k) => rowLabel(k.label))).toBe(false);
      }
    }
    const excess = t.engine!.losses[0] - Math.log(text.vocabSize);
    expect(excess).toBeGreaterThan(0);
    expect(excess).toBeLessThan(1.5);

    // One row per batch; the engine with and without its cache (on both kernel paths) and
    // onnxruntime-web on the exported model decode the same greedy tokens, and each rate counts
    // every sequence's tokens.
    expect(res.decode.map((d) => d.batch)).toEqual([1, 3]);
    for (const d of res.decode) {
      expect([d.preset, d.promptLen, d.newTokens, d.kernels]).toEqual(['toy', 3, 4, gpu.rowKernels ? 'rows' : 'workgroup']);
      // On a CPU adapter the cached path also runs on the GPU path.
      expect(d.cachedGpuPath === null).toBe(!gpu.rowKernels);
      expect(d.ortWebgpu).toBeNull();
      for (const e of [d.cached!, d.cachedF16!, d.noCache!, d.ort!, ...(gpu.rowKernels ? [d.cachedGpuPath!] : [])]) {
        for (const v of [e.ms, e.tokensPerS, e.cpuMs, ...e.samplesMs]) expect(positive(v)).toBe(true);
        expect(e.samplesMs).toHaveLength(2);
        expect(e.tokensPerS).toBeCloseTo((d.batch * 4) / (e.ms / 1000), 6);
      }
      expect(d.speedup).toBeCloseTo(d.cached!.tokensPerS / d.noCache!.tokensPerS, 9);
      expect(d.vsOrt).toBeCloseTo(d.cached!.tokensPerS / d.ort!.tokensPerS, 9);
      expect(d.sameTokens).toBe(true);
      expect(typeof d.f16SameTokens).toBe('boolean');
      if (gpu.hasTimestamps) {
        // Prefill plus 3 cached steps of a 2-layer model: dozens of dispatches per token, all timed.
        const b = d.breakdown!;
        expect(b.dispatchesPerToken).toBeGreaterThan(10);
        expect(b.gpuMs).toBeGreaterThan(0);
        expect(b.top.length).toBeGreaterThan(0);
        expect(b.top[0].ms).toBeGreaterThanOrEqual(b.top[b.top.length - 1].ms);
      }
    }
    expect(gpu.profiler).toBeNull();
    expect(positive(res.seconds)).toBe(true);
  });

  test('the JSON holds every number and the table every row', () => {
    expect(JSON.parse(JSON.stringify(res))).toEqual(res);
    expect(res.options.train).toEqual(['toy']);
    const table = formatBenchTable(res);
    for (const h of ['matmul', 'training step', 'decode']) expect(table).toContain(h);
    const lines = table.split('\n');
    expect(lines.some((l) => /^\s+33\s/.test(l))).toBe(true);
    expect(lines.some((l) => /^\s+70\s/.test(l))).toBe(true);
    expect(lines.filter((l) => /^\s+toy\s/.test(l))).toHaveLength(3);
    // Medians with the range of their samples: the training row's engine step, the decode rows' runs.
    const t = res.train[0].engine!;
    const [lo, hi] = [Math.min(...t.samplesMs), Math.max(...t.samplesMs)];
    expect(lo).toBeLessThanOrEqual(t.msPerStep);
    expect(hi).toBeGreaterThanOrEqual(t.msPerStep);
    const trainLine = lines.find((l) => /^\s+toy\s+\S+\s+\S+\s+\S+ \(/.test(l))!;
    expect(trainLine, 'the engine step as median (min-max)').toMatch(/ \(\S+-\S+\)/);
    expect(lines.filter((l) => /^\s+toy\s/.test(l) && /\(\S+-\S+\)/.test(l))).toHaveLength(3);
    expect(table).not.toContain('errors:');
    expect(table).not.toMatch(/NaN|undefined/);
  });
});

describe('runBench options and failures', () => {
  test('only the sections asked for, and no tfjs when switched off', async () => {
    const r = await runBench(await testGpu(), tinyOptions({ sections: ['matmul'], matmulSizes: [17], tfjs: false }));
    expect(r.errors).toEqual([]);
    expect(r.train).toEqual([]);
    expect(r.decode).toEqual([]);
    expect(r.matmul[0].tfjs).toBeNull();
    expect(r.matmul[0].maxRelDiff).toBeNull();
    expect(positive(r.matmul[0].engine!.gflops)).toBe(true);
    const table = formatBenchTable(r);
    expect(table).not.toContain('training step');
    expect(table).toMatch(/17\s.*n\/a/);
  });

  test('a failing part is reported, not fatal', async () => {
    const gpu = await testGpu();
    // Larger than any storage binding the adapter allows: the engine's arena refuses it.
    const n = Math.ceil(Math.sqrt(gpu.maxBindingBytes / 4)) + 64;
    const r = await runBench(gpu, tinyOptions({ sections: ['matmul'], matmulSizes: [n, 9], tfjs: false }));
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatchObject({ section: 'matmul', what: `engine ${n}` });
    expect(r.matmul[0].engine).toBeNull();
    expect(positive(r.matmul[1].engine!.gflops)).toBe(true);
    expect(formatBenchTable(r)).toContain(`matmul / engine ${n}`);
  });

  test("decode beside onnxruntime-web's WebGPU provider on the engine's device: the same tokens", async () => {
    const gpu = await testGpu();
    const r = await runBench(gpu, tinyOptions({ sections: ['decode'], decodeBatches: [2], ortWebgpu: true, repeats: 1 }));
    expect(r.errors).toEqual([]);
    const d = r.decode[0];
    expect(positive(d.ortWebgpu!.tokensPerS)).toBe(true);
    expect(d.ortWebgpu!.tokensPerS).toBeCloseTo((2 * 4) / (d.ortWebgpu!.ms / 1000), 6);
    // sameTokens covers every f32 contender, the WebGPU provider among them.
    expect(d.sameTokens).toBe(true);
    expect(formatBenchTable(r)).toMatch(/ORT WebGPU tok\/s/);
  });

  test('bad options are refused before any GPU work', async () => {
    const gpu = await testGpu();
    await expect(runBench(gpu, tinyOptions({ seq: 33 }))).rejects.toThrow(/context of 32/);
    await expect(runBench(gpu, tinyOptions({ decodeTokens: 30 }))).rejects.toThrow(/exceed toy's context/);
    await expect(runBench(gpu, tinyOptions({ matmulSizes: [0] }))).rejects.toThrow(/matmul size/);
    await expect(runBench(gpu, tinyOptions({ repeats: 0 }))).rejects.toThrow(/repeats/);
  });
});

describe('timing', () => {
  test('median and sample', async () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(() => median([])).toThrow();
    let calls = 0;
    const got = await sample(2, 3, async () => ++calls);
    expect(got).toEqual([3, 4, 5]);
  });

  for (const stamps of [true, false]) {
    test(`GpuTimer brackets submitted work (${stamps ? 'timestamps' : 'wall clock'})`, async () => {
      const gpu = await testGpu();
      if (stamps && !gpu.hasTimestamps) return;
      const timer = new GpuTimer(gpu, stamps);
      const arena = new Arena(
        gpu,
        'timer-test',
        ['A', 'B', 'C'].map((name) => ({ name, shape: [96, 96], dtype: 'f32' as const })),
      );
      const s = new CommandStream(gpu, 'timer-test');
      try {
        const one = await timer.time(() => {
          matmul(s, arena.get('A'), arena.get('B'), arena.get('C'), { M: 96, N: 96, K: 96 });
          s.submit();
        });
        const many = await timer.time(() => {
          for (let i = 0; i < 8; i++) matmul(s, arena.get('A'), arena.get('B'), arena.get('C'), { M: 96, N: 96, K: 96 });
          s.submit();
        });
        expect(one.method).toBe(stamps ? 'gpu-timestamps' : 'wall-clock');
        for (const t of [one, many]) expect(positive(t.ms) && positive(t.wallMs)).toBe(true);
        if (!stamps) expect(one.ms).toBe(one.wallMs);
        // The span between the two markers lies inside the host's wall span of the same call (the
        // first marker is queued after the clock starts, the last read back before it stops). A
        // comparison of two spans (eight products vs one) was a speed claim a loaded machine broke.
        for (const t of [one, many]) expect(t.ms).toBeLessThanOrEqual(t.wallMs + 0.5);
        await s.sync();
      } finally {
        s.destroy();
        arena.release();
        timer.destroy();
      }
    });
  }
});

describe('report', () => {
  test('columns pads to the widest cell', () => {
    expect(
      columns(
        [
          ['a', '1'],
          ['bbb', '22'],
        ],
        '',
      ),
    ).toBe('a      1\nbbb   22');
  });
});

describe('CLI options', () => {
  test('profiles', () => {
    const d = resolveBenchOptions({});
    expect(d.profile).toBe('default');
    expect(d.matmulSizes).toEqual([256, 512]);
    expect(d.train.map((m) => m.name)).toEqual(['micro', 'tiny']);
    expect(d.train[0].text).toEqual(PRESETS.micro.text);
    expect(resolveBenchOptions({ full: true }).matmulSizes).toEqual([256, 512, 1024, 2048, 4096]);
    expect(resolveBenchOptions({ quick: true }).train.map((m) => m.name)).toEqual(['micro']);
    expect(benchProfile('full').sections).toEqual(['matmul', 'train', 'decode']);
  });

  test('overrides', () => {
    const o = resolveBenchOptions({
      quick: true,
      sizes: '64, 96',
      presets: 'tiny',
      batch: '3',
      seq: '9',
      decodePreset: 'tiny',
      prompt: '5',
      tokens: '7',
      warmup: '0',
      repeats: '4',
      sections: 'train,decode',
      tfjs: false,
      seed: '9',
      lr: '0.01',
    });
    expect(o.matmulSizes).toEqual([64, 96]);
    expect(o.train.map((m) => m.name)).toEqual(['tiny']);
    expect([o.batch, o.seq, o.promptLen, o.decodeTokens, o.warmup, o.repeats, o.seed, o.lr]).toEqual([3, 9, 5, 7, 0, 4, 9, 0.01]);
    expect(o.decode.name).toBe('tiny');
    expect(o.sections).toEqual(['train', 'decode']);
    expect(o.tfjs).toBe(false);
  });

  test("a model's config.json instead of a preset: its shape, named by its folder", () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bench-cfg-'));
    try {
      const folder = path.join(dir, 'my-model');
      mkdirSync(folder);
      const cfg = {
        architectures: ['LlamaForCausalLM'],
        model_type: 'llama',
        vocab_size: 512,
        hidden_size: 128,
        intermediate_size: 352,
        num_hidden_layers: 4,
        num_attention_heads: 4,
        num_key_value_heads: 4,
        max_position_embeddings: 64,
        rms_norm_eps: 1e-5,
        rope_theta: 10000,
        tie_word_embeddings: true,
      };
      writeFileSync(path.join(folder, 'config.json'), JSON.stringify(cfg));
      const o = resolveBenchOptions({
        presets: `micro,${path.join(folder, 'config.json')}`,
        seq: '64',
        decodePreset: path.join(folder, 'config.json'),
        prompt: '8',
        tokens: '8',
      });
      expect(o.train.map((m) => m.name)).toEqual(['micro', 'my-model']);
      const t = o.train[1].text;
      expect([t.vocabSize, t.hiddenSize, t.intermediateSize, t.numLayers, t.numHeads, t.numKvHeads, t.headDim]).toEqual([512, 128, 352, 4, 4, 4, 32]);
      expect(o.decode.text).toEqual(t);
      // Its own context bounds the sequence, as a preset's does.
      expect(() => resolveBenchOptions({ presets: path.join(folder, 'config.json'), seq: '65' })).toThrow(/--seq.*my-model's context of 64/);
      writeFileSync(path.join(dir, 'broken.json'), '{"vocab_size": 5');
      expect(() => resolveBenchOptions({ presets: path.join(dir, 'broken.json') })).toThrow(/--presets.*broken\.json/);
      expect(() => resolveBenchOptions({ presets: path.join(dir, 'absent.json') })).toThrow(/--presets.*absent\.json/);
      writeFileSync(path.join(dir, 'bad.json'), JSON.stringify({ ...cfg, hidden_size: 130 }));
      expect(() => resolveBenchOptions({ presets: path.join(dir, 'bad.json') })).toThrow(/bad\.json/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('bad options name the flag', () => {
    expect(() => resolveBenchOptions({ quick: true, full: true })).toThrow(/--quick/);
    expect(() => resolveBenchOptions({ sizes: '64,x' })).toThrow(/--sizes/);
    expect(() => resolveBenchOptions({ presets: 'huge' })).toThrow(/--presets.*unknown preset huge.*config\.json/);
    expect(() => resolveBenchOptions({ sections: 'matmul,speed' })).toThrow(/--sections.*speed/);
    expect(() => resolveBenchOptions({ seq: '300' })).toThrow(/--seq.*micro's context of 256/);
    expect(() => resolveBenchOptions({ tokens: '250' })).toThrow(/--tokens/);
    expect(() => resolveBenchOptions({ repeats: '0' })).toThrow(/--repeats/);
  });

  describe('thinker bench', () => {
    let dir = '';
    afterEach(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
      vi.restoreAllMocks();
    });

    test('writes the JSON file and prints it with --json', async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'bench-'));
      const out = path.join(dir, 'sub', 'r.json');
      const stdout: string[] = [],
        stderr: string[] = [];
      vi.spyOn(process.stdout, 'write').mockImplementation((c) => {
        stdout.push(String(c));
        return true;
      });
      vi.spyOn(process.stderr, 'write').mockImplementation((c) => {
        stderr.push(String(c));
        return true;
      });
      const program = new Command().exitOverride();
      registerBench(program);
      await program.parseAsync(['bench', '--sections', 'matmul', '--sizes', '20', '--no-tfjs', '--repeats', '1', '--warmup', '0', '--out', out, '--json'], {
        from: 'user',
      });
      vi.restoreAllMocks();
      const file = JSON.parse(readFileSync(out, 'utf8')) as BenchResults;
      expect(JSON.parse(stdout.join(''))).toEqual(file);
      expect(file.matmul.map((m) => m.size)).toEqual([20]);
      expect(positive(file.matmul[0].engine!.gflops)).toBe(true);
      expect(file.adapter.limits.maxBufferSize).toBeGreaterThan(0);
      expect(stderr.join('')).toContain('matmul, square f32');
    });
  });
});

describe('fp32 peak', () => {
  test('knows the cards the GPU machines have, none for a CPU adapter, and takes --peak-tflops', async () => {
    const { fp32Peak } = await import('../../src/bench/peak');
    const gpu = (description: string) => ({ description, vendor: 'nvidia', cpu: false });
    expect(fp32Peak(gpu('NVIDIA H100 80GB HBM3'))).toEqual({ gflops: 67000, card: 'NVIDIA H100 (SXM)' });
    expect(fp32Peak(gpu('NVIDIA H100 PCIe'))?.gflops).toBe(51000);
    expect(fp32Peak(gpu('NVIDIA H200'))?.gflops).toBe(67000);
    expect(fp32Peak(gpu('Some Future GPU'))).toBeNull();
    expect(fp32Peak({ description: 'SwiftShader Device', vendor: 'google', cpu: true })).toBeNull();
    expect(fp32Peak(gpu('Some Future GPU'), 12.5)?.gflops).toBe(12500);
    // The bench's fractions are the engine's GFLOP/s over that peak.
    const r = await runBench(await testGpu(), tinyOptions({ sections: ['matmul'], matmulSizes: [17], tfjs: false, peakTflops: 0.001 }));
    expect(r.peak!.gflops).toBe(1);
    expect(r.matmul[0].engineOfPeak).toBeCloseTo(r.matmul[0].engine!.gflops / 1, 9);
    expect(formatBenchTable(r)).toMatch(/% of peak/);
  });
});
