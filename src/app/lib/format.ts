// Number and time formatting shared by every page, kept pure so it is tested without a browser.

import { type GpuInfo, kvF16ByDefault, subgroupWords } from '../../engine/gpu';

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];

/** Bytes in powers of 1024 with three significant digits ("1.5 MB"). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '—';
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${Math.round(v)} B`;
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${UNITS[u]}`;
}

/** Parameter counts as people say them: "312k", "2.1M", "1.5B". */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return '—';
  const a = Math.abs(n);
  const f = (v: number, s: string) => `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1).replace(/\.0$/, '') : v.toFixed(2).replace(/\.?0+$/, '')}${s}`;
  if (a >= 1e9) return f(n / 1e9, 'B');
  if (a >= 1e6) return f(n / 1e6, 'M');
  if (a >= 1e3) return f(n / 1e3, 'k');
  return String(Math.round(n));
}

/**
 * A duration for a "time left" label: "45 s", "3 min 20 s", "2 h 05 min". Seconds are dropped
 * past an hour because an estimate that far out is not that precise.
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${String(m % 60).padStart(2, '0')} min`;
}

/** A fraction in [0, 1] as a percentage with one decimal; '—' for missing values. */
export function formatPercent(x: number | null | undefined, digits = 1): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  return `${(100 * x).toFixed(digits)}%`;
}

/** A metric value with about four significant digits, switching to exponent form for tiny values. */
export function formatMetric(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a < 1e-3 || a >= 1e6) return x.toExponential(2);
  return Number(x.toPrecision(4)).toString();
}

/** An ISO time as a short local date and time. */
export function formatWhen(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/**
 * Axis tick labels with as many decimals as the tick spacing needs, so ticks never print the
 * same text: 6.2070 / 6.2071 rather than 6.207 twice; tiny or huge values in exponent form.
 */
export function tickLabels(ticks: readonly number[], incr: number): string[] {
  const big = ticks.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  if (!(incr > 0) || !Number.isFinite(incr)) return ticks.map((v) => String(v));
  if (big >= 1e6 || (incr < 1e-4 && big < 1e-2)) {
    // Enough significant digits to separate neighbours at this spacing.
    const digits = Math.min(6, Math.max(1, Math.ceil(Math.log10(Math.max(big, incr) / incr))));
    return ticks.map((v) => (v === 0 ? '0' : v.toExponential(digits)));
  }
  // The decimals the spacing itself needs (0.25 needs 2, 0.2 needs 1).
  let decimals = 0;
  while (decimals < 10 && Math.abs(Number(incr.toFixed(decimals)) - incr) > incr * 1e-6) decimals++;
  return ticks.map((v) => (Math.abs(v) < incr * 1e-6 ? 0 : v).toFixed(decimals));
}

/** At most `max` characters, cut with an ellipsis: an untrained model's "answer" can be a paragraph. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1)).trimEnd()}…`;
}

/** Which of the engine's kernel paths this adapter gets (Gpu.rowKernels, Gpu.subgroupReductions), in words. */
export function kernelPath(info: GpuInfo): string {
  const path = info.cpu
    ? 'one thread per row (a CPU adapter, which emulates every workgroup barrier: the workgroup kernels run 5-40x slower here)'
    : 'workgroup kernels (tiled matmul and attention)';
  const sgw = subgroupWords(info);
  const sg = sgw ? `; ${sgw} (the workgroup reductions use them)` : '; no subgroups (the workgroup reductions use barrier trees)';
  const kv = kvF16ByDefault(info) ? "; generation's KV cache in f16 (half the memory and bytes read)" : "; generation's KV cache in f32";
  return path + sg + kv;
}
