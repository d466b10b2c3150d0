import { describe, expect, it } from 'vitest';
import { clip, formatBytes, formatCount, formatDuration, formatMetric, formatPercent, kernelPath, tickLabels } from '../../src/app/lib/format';
import { EtaTracker, fractionDone } from '../../src/app/lib/progress';

describe('formatting', () => {
  it("the adapter's kernel path and subgroups, in words", () => {
    const base = { vendor: '', architecture: '', description: '', features: [], limits: {} };
    expect(kernelPath({ ...base, cpu: true, subgroupSizes: [4, 4] })).toMatch(/^one thread per row .*; subgroups of 4 lanes \(/);
    expect(kernelPath({ ...base, cpu: false, subgroupSizes: [32, 32] })).toMatch(/^workgroup kernels .*; subgroups of 32 lanes/);
    expect(kernelPath({ ...base, cpu: false, subgroupSizes: [16, 64] })).toMatch(/subgroups of 16-64 lanes/);
    expect(kernelPath({ ...base, cpu: false })).toMatch(
      /^workgroup kernels .*; no subgroups \(the workgroup reductions use barrier trees\); generation's KV cache in f16 /,
    );
    expect(kernelPath({ ...base, cpu: true })).toMatch(/KV cache in f32$/);
  });

  it('bytes in powers of 1024 with three significant digits', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.50 KB');
    expect(formatBytes(1.5 * 2 ** 20)).toBe('1.50 MB');
    expect(formatBytes(123.4 * 2 ** 30)).toBe('123 GB');
    expect(formatBytes(-1)).toBe('—');
  });

  it('durations as a time-left label', () => {
    expect(formatDuration(0)).toBe('0 s');
    expect(formatDuration(44.6)).toBe('45 s');
    expect(formatDuration(200)).toBe('3 min 20 s');
    expect(formatDuration(3599)).toBe('59 min 59 s');
    expect(formatDuration(7500)).toBe('2 h 05 min');
    expect(formatDuration(Number.NaN)).toBe('—');
  });

  it('counts, percentages, metrics', () => {
    expect(formatCount(950)).toBe('950');
    expect(formatCount(312_000)).toBe('312k');
    expect(formatCount(2_100_000)).toBe('2.1M');
    expect(formatCount(1_500_000_000)).toBe('1.5B');
    expect(formatPercent(0.1234)).toBe('12.3%');
    expect(formatPercent(null)).toBe('—');
    expect(formatMetric(0.000012)).toBe('1.20e-5');
    expect(formatMetric(1.23456)).toBe('1.235');
  });
});

describe('time left', () => {
  it('is the rate since the phase began times what is left', () => {
    const t = new EtaTracker();
    expect(t.update({ phase: 'a', done: 0, total: 100 }, 0).secondsLeft).toBeUndefined();
    expect(t.update({ phase: 'a', done: 10, total: 100 }, 10_000).secondsLeft).toBeCloseTo(90);
    expect(t.update({ phase: 'a', done: 50, total: 100 }, 20_000).secondsLeft).toBeCloseTo(20);
  });

  it('restarts the clock in a new phase and when the count goes back', () => {
    const t = new EtaTracker();
    t.update({ phase: 'a', done: 0, total: 10 }, 0);
    t.update({ phase: 'a', done: 5, total: 10 }, 1000);
    expect(t.update({ phase: 'b', done: 0, total: 10 }, 1000).secondsLeft).toBeUndefined();
    // 4 of 10 in 8 s: 12 s for the 6 left, not the first phase's rate.
    expect(t.update({ phase: 'b', done: 4, total: 10 }, 9000).secondsLeft).toBeCloseTo(12);
    // A resumed run restarts its count: the rate is measured afresh.
    t.update({ phase: 'b', done: 2, total: 10 }, 10_000);
    expect(t.update({ phase: 'b', done: 3, total: 10 }, 11_000).secondsLeft).toBeCloseTo(7);
  });

  it("prefers the engine's own estimate and ends at 0", () => {
    const t = new EtaTracker();
    expect(t.update({ phase: 'a', done: 1, total: 10, etaSeconds: 33 }, 5).secondsLeft).toBe(33);
    expect(t.update({ phase: 'a', done: 10, total: 10 }, 9).secondsLeft).toBe(0);
    expect(fractionDone({ done: 3, total: 4 })).toBe(0.75);
    expect(fractionDone({ done: 3, total: 0 })).toBe(0);
    expect(fractionDone({ done: 9, total: 4 })).toBe(1);
  });
});

describe('axis ticks', () => {
  it('never print two ticks the same', () => {
    const cases: [number[], number][] = [
      [[6.20695, 6.207, 6.20705, 6.2071], 0.00005],
      [[0, 0.2, 0.4, 0.6], 0.2],
      [[1e-8, 1.2e-8, 1.4e-8], 2e-9],
      [[0, 5, 10, 15], 5],
      [[2e6, 2.5e6, 3e6], 5e5],
      [[-0.01, -0.005, 0, 0.005, 0.01], 0.005],
    ];
    for (const [ticks, incr] of cases) {
      const l = tickLabels(ticks, incr);
      expect(new Set(l).size, l.join(' ')).toBe(ticks.length);
      // Each label reads back close to its tick.
      l.forEach((s, i) => expect(Math.abs(Number(s) - ticks[i])).toBeLessThanOrEqual(incr / 2));
    }
    expect(tickLabels([0, 5, 10], 5)).toEqual(['0', '5', '10']);
    expect(tickLabels([0.25, 0.5], 0.25)).toEqual(['0.25', '0.50']);
  });
});

describe('clip', () => {
  it('keeps short text and cuts long text to the limit with an ellipsis', () => {
    expect(clip('A', 32)).toBe('A');
    expect(clip('The The The The', 8)).toBe('The The…');
    expect(clip('The The The The', 8).length).toBeLessThanOrEqual(8);
  });
});

describe('downloads', () => {
  it('records.jsonl is one JSON object per line, read back equal; names are file-safe', async () => {
    const { recordsJsonl, fileSafe } = await import('../../src/app/lib/download');
    const recs = [
      { benchmark: 'vqa-rad', question: 'Is there\na mass?', correct: true },
      { benchmark: 'slake', question: 'Left "or" right?', correct: false },
    ];
    const text = recordsJsonl(recs as never);
    expect(text.endsWith('\n')).toBe(true);
    expect(
      text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual(recs);
    expect(recordsJsonl([])).toBe('');
    expect(fileSafe('lab/tiny (pretrained)')).toBe('lab_tiny_pretrained');
    expect(fileSafe('runs/sft-1/checkpoint-40')).toBe('runs_sft-1_checkpoint-40');
    expect(fileSafe('///')).toBe('results');
  });
});
