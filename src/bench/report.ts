// The bench's plain-text table: one block per section, columns padded to their widest cell.
import type { BenchResults } from './run';
import { subgroupWords } from '../engine/gpu';

/** Left-align the first column, right-align the rest. */
export function columns(rows: string[][], indent = '  '): string {
  const widths: number[] = [];
  for (const r of rows)
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.length);
    });
  return rows
    .map(
      (r) =>
        indent +
        r
          .map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
          .join('   ')
          .trimEnd(),
    )
    .join('\n');
}

const na = 'n/a';
const fixed = (v: number | null | undefined, d: number) => (v === null || v === undefined || !Number.isFinite(v) ? na : v.toFixed(d));
/** Enough significant digits for numbers from 0.01 to millions without a column of zeros. */
const num = (v: number | null | undefined) => {
  if (v === null || v === undefined || !Number.isFinite(v)) return na;
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toPrecision(2);
};
const ratio = (a: number | null | undefined, b: number | null | undefined) => (a && b ? `${(a / b).toFixed(2)}x` : na);
const params = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${(n / 1e3).toFixed(0)}k`);
/** A median with the range of the timed samples it came from: "262 (255-270)". */
const spread = (m: { samplesMs: number[] } | null | undefined, median: number | undefined) =>
  m && median !== undefined && m.samplesMs.length ? `${num(median)} (${num(Math.min(...m.samplesMs))}-${num(Math.max(...m.samplesMs))})` : na;

export function formatBenchTable(r: BenchResults): string {
  const out: string[] = [];
  const a = r.adapter;
  const adapter = [a.vendor, a.architecture, a.description].filter(Boolean).join(' / ') || 'unknown adapter';
  const sgw = subgroupWords(a);
  const sg = sgw ? `, ${sgw}` : '';
  out.push(`thinker bench (${r.profile}) on ${adapter}${sg}, ${r.runtime}, ${r.seconds.toFixed(0)} s`);

  if (r.options.sections.includes('matmul')) {
    const method = r.matmul.find((m) => m.engine)?.engine?.method ?? r.matmul.find((m) => m.tfjs)?.tfjs?.method ?? 'n/a';
    const peak = r.peak ? `; % of peak = engine over the ${r.peak.card}'s fp32 peak of ${(r.peak.gflops / 1000).toFixed(1)} TFLOP/s` : '';
    out.push('', `matmul, square f32 C = A·B (median of ${r.options.repeats}, timed by ${method}${peak})`);
    const gpuPath = r.matmul.some((m) => m.engineGpuPath);
    const rows = [['size', 'engine GFLOP/s', ...(gpuPath ? ['GPU path GFLOP/s'] : []), '% of peak', 'ms', 'tfjs GFLOP/s', 'ms', 'engine/tfjs', 'max rel diff']];
    for (const m of r.matmul) {
      rows.push([
        String(m.size),
        num(m.engine?.gflops),
        ...(gpuPath ? [num(m.engineGpuPath?.gflops)] : []),
        m.engineOfPeak === null ? na : `${(100 * m.engineOfPeak).toFixed(1)}%`,
        num(m.engine?.ms),
        num(m.tfjs?.gflops),
        num(m.tfjs?.ms),
        ratio(m.engine?.gflops, m.tfjs?.gflops),
        m.maxRelDiff === null ? na : m.maxRelDiff.toExponential(1),
      ]);
    }
    out.push(columns(rows));
  }

  if (r.options.sections.includes('train')) {
    const cpuPath = r.train.some((t) => t.kernels === 'rows');
    out.push(
      '',
      `training step: forward + backward + clip + AdamW, text only, B x T = ${r.options.batch} x ${r.options.seq} ` +
        `(median of ${r.options.repeats} interleaved steps after ${r.options.warmup} warmup, wall clock; cpu ms = this process's CPU time per step)` +
        (cpuPath ? "; this is a CPU adapter: 'engine' runs its row kernels, 'GPU path' the workgroup kernels every GPU gets" : ''),
    );
    const rows = [
      [
        'preset',
        'params',
        'engine tok/s',
        'ms/step (range)',
        ...(cpuPath ? ['GPU path tok/s', 'ms/step (range)'] : []),
        'tfjs tok/s',
        'ms/step (range)',
        'engine/tfjs',
        ...(cpuPath ? ['GPU path/tfjs'] : []),
        cpuPath ? 'cpu ms (engine / GPU path / tfjs)' : 'cpu ms (engine / tfjs)',
        'step-1 loss engine',
        'tfjs',
      ],
    ];
    for (const t of r.train) {
      rows.push([
        t.preset,
        params(t.params),
        num(t.engine?.tokensPerS),
        spread(t.engine, t.engine?.msPerStep),
        ...(cpuPath ? [num(t.engineGpuPath?.tokensPerS), spread(t.engineGpuPath, t.engineGpuPath?.msPerStep)] : []),
        num(t.tfjs?.tokensPerS),
        spread(t.tfjs, t.tfjs?.msPerStep),
        ratio(t.engine?.tokensPerS, t.tfjs?.tokensPerS),
        ...(cpuPath ? [ratio(t.engineGpuPath?.tokensPerS, t.tfjs?.tokensPerS)] : []),
        [t.engine, ...(cpuPath ? [t.engineGpuPath] : []), t.tfjs].map((m) => num(m?.cpuMs)).join(' / '),
        fixed(t.engine?.losses[0], 4),
        fixed(t.tfjs?.losses[0], 4),
      ]);
    }
    out.push(columns(rows));
    for (const t of r.train) {
      for (const [what, m] of [
        [t.kernels === 'rows' ? 'engine (row kernels)' : 'engine', t.engine],
        ['GPU path', t.engineGpuPath],
      ] as const) {
        const b = m?.breakdown;
        if (!b) continue;
        const share = (ms: number) => `${((100 * ms) / Math.max(b.gpuMs, 1e-9)).toFixed(0)}%`;
        out.push(
          `  ${t.preset}, ${what}, where a step's time goes (one profiled step): ${b.dispatches} dispatches; GPU busy ${b.gpuMs.toFixed(0)} of ${b.wallMs.toFixed(0)} ms; most GPU time: ${b.top.map((k) => `${k.label} ${share(k.ms)}`).join(', ')}`,
        );
      }
    }
  }

  if (r.options.sections.includes('decode')) {
    const path = r.decode[0]?.kernels === 'rows' ? "the engine's CPU-adapter row kernels (a GPU runs the workgroup kernels)" : "the engine's workgroup kernels";
    out.push(
      '',
      `decode: greedy generation, prompt included in the time; median of ${r.options.repeats} interleaved runs, wall clock, tokens of all sequences; ${path}; f16 KV = the KV cache in f16 (the default on GPUs); GPU path = the cached path on the workgroup kernels a GPU runs (forced, on a CPU adapter); ORT = onnxruntime-web (WASM, 1 thread) on the same model exported to ONNX, ORT WebGPU = its WebGPU execution provider on the engine's device; cpu ms = this process's CPU time per run`,
    );
    const rows = [
      [
        'preset',
        'params',
        'batch',
        'prompt',
        'new',
        'KV cache tok/s',
        'ms (range)',
        'f16 KV tok/s',
        'GPU path tok/s',
        'no cache tok/s',
        'ORT tok/s',
        'ms (range)',
        'ORT WebGPU tok/s',
        'cache/ORT',
        'GPU path/ORT WebGPU',
        'cpu ms (cache / ORT)',
        'same tokens',
      ],
    ];
    for (const d of r.decode) {
      rows.push([
        d.preset,
        params(d.params),
        String(d.batch),
        String(d.promptLen),
        String(d.newTokens),
        num(d.cached?.tokensPerS),
        spread(d.cached, d.cached?.ms),
        `${num(d.cachedF16?.tokensPerS)}${d.f16SameTokens === false ? ' (other tokens)' : ''}`,
        num(d.cachedGpuPath?.tokensPerS),
        num(d.noCache?.tokensPerS),
        num(d.ort?.tokensPerS),
        spread(d.ort, d.ort?.ms),
        num(d.ortWebgpu?.tokensPerS),
        d.vsOrt === null ? na : `${d.vsOrt.toFixed(2)}x`,
        ratio((d.cachedGpuPath ?? (d.kernels === 'workgroup' ? d.cached : null))?.tokensPerS, d.ortWebgpu?.tokensPerS),
        `${num(d.cached?.cpuMs)} / ${num(d.ort?.cpuMs)}`,
        d.sameTokens === null ? na : d.sameTokens ? 'yes' : 'NO',
      ]);
    }
    out.push(columns(rows));
    for (const d of r.decode) {
      const b = d.breakdown;
      if (!b) continue;
      out.push(
        `  batch ${d.batch}, where the cached path's time goes (one profiled run): ${b.dispatchesPerToken.toFixed(0)} dispatches per token; GPU busy ${b.gpuMs.toFixed(0)} of ${b.wallMs.toFixed(0)} ms; most GPU time: ${b.top.map((k) => `${k.label} ${k.ms.toFixed(0)} ms`).join(', ')}`,
      );
    }
  }

  if (r.errors.length) {
    out.push('', 'errors:');
    for (const e of r.errors) out.push(`  ${e.section} / ${e.what}: ${e.message}`);
  }
  return out.join('\n');
}
