import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { tickLabels } from '../lib/format';

export interface ChartSeries {
  label: string;
  colour: string;
  values: (number | null)[];
}

export interface ChartProps {
  title: string;
  caption?: string;
  x: number[];
  series: ChartSeries[];
  xLabel?: string;
  /** Draw bars (histograms) instead of lines. */
  bars?: boolean;
  /** y from 0 to at least 1 (shares). */
  share?: boolean;
  height?: number;
  testId: string;
  /** Shown while there is no point to draw. */
  empty?: string;
}

/**
 * A uPlot chart that fills its container's width. The plot is rebuilt only when its series change
 * (names, colours, bars); new points go in with setData, so a live run redraws cheaply.
 */
/** Steps and counts are integers: no ticks at 0.5. */
const INTEGER_INCRS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 50000, 100000];

/**
 * uPlot spreads a lone x value (the evaluation before step 1) over 0..100 without asking the
 * scale's range function; one step of axis reads right.
 */
function fitLonePoint(u: uPlot, x: readonly number[]) {
  if (x.length === 1) u.setScale('x', { min: x[0], max: x[0] + 1 });
}

export function Chart({ title, caption, x, series, xLabel = 'step', bars = false, share = false, height = 170, testId, empty = 'no data yet' }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = JSON.stringify([series.map((s) => [s.label, s.colour]), bars, share, xLabel, height]);
  const data = [x, ...series.map((s) => s.values)] as uPlot.AlignedData;

  // biome-ignore lint/correctness/useExhaustiveDependencies: rebuilt on shape changes only; data updates go through setData below.
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      scales: {
        // Scales set from outside (fitLonePoint) keep one step of axis for a lone point; uPlot's own autoscale skips this.
        x: { time: false, range: (_u: uPlot, min: number, max: number): uPlot.Range.MinMax => (min === max ? [min, min + 1] : [min, max]) },
        ...(share ? { y: { range: (_u: uPlot, _min: number, max: number): uPlot.Range.MinMax => [0, Math.max(1, max)] } } : {}),
      },
      // Labels only: live values read "--" until the pointer is over the plot.
      legend: { show: series.length > 1, live: false },
      cursor: { drag: { x: false, y: false } },
      axes: [
        { label: xLabel, labelSize: 18, size: 36, stroke: '#4b5563', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#e5e7eb' }, incrs: INTEGER_INCRS },
        {
          size: 60,
          stroke: '#4b5563',
          grid: { stroke: '#eef0f3' },
          ticks: { stroke: '#e5e7eb' },
          values: (_u, splits, _a, _s, incr) => tickLabels(splits, incr),
        },
      ],
      series: [
        { label: xLabel },
        ...series.map(
          (s): uPlot.Series =>
            bars
              ? { label: s.label, stroke: s.colour, fill: `${s.colour}99`, width: 1, paths: uPlot.paths.bars!({ size: [0.7, 48] }), points: { show: false } }
              : { label: s.label, stroke: s.colour, width: 2, spanGaps: true, points: { show: true, size: 4 } },
        ),
      ],
    };
    const u = new uPlot(opts, data, el);
    fitLonePoint(u, x);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [shape]);

  useEffect(() => {
    if (!plot.current) return;
    plot.current.setData(data);
    fitLonePoint(plot.current, x);
  });

  return (
    // The points each series draws, for tests and assistive tools: the canvas itself is opaque.
    <figure
      className="chart"
      data-testid={testId}
      data-points={x.length}
      data-series={series.map((s) => `${s.label}=${s.values.filter((v) => v !== null).length}`).join(';')}
    >
      <figcaption>
        <span className="chart-title">{title}</span>
        {caption && <span className="chart-caption">{caption}</span>}
      </figcaption>
      <div className="chart-plot">
        <div ref={box} />
        {x.length === 0 && <div className="chart-empty">{empty}</div>}
      </div>
    </figure>
  );
}
