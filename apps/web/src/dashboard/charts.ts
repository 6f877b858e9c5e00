import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from '../dom.js';
import { fmtNum, fmtRate } from '../format.js';
import type { RunSeries } from './series.js';

const HEIGHT = 220;

const COLORS = {
  loss: '#2f6fed',
  test: '#e8590c',
  accuracy: '#16a34a',
  speed: '#7c3aed',
  compute: '#2f6fed',
  comm: '#0ea5a4',
  wait: '#f59e0b',
};

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

function axes(yLabel: string, yValues?: uPlot.Axis['values']): uPlot.Axis[] {
  const ink = cssVar('--muted', '#667085');
  const grid = { stroke: cssVar('--line', '#e3e6eb'), width: 1 };
  return [
    { stroke: ink, grid, ticks: grid, label: 'step', labelSize: 18, size: 36 },
    { stroke: ink, grid, ticks: grid, label: yLabel, labelSize: 18, size: 56, ...(yValues ? { values: yValues } : {}) },
  ];
}

/** One uPlot chart in a card; `data-points` on the card says how many x values it holds (for people and tests). */
class Chart {
  readonly card: HTMLElement;
  private readonly body: HTMLElement;
  private readonly u: uPlot;

  constructor(parent: HTMLElement, id: string, title: string, opts: Omit<uPlot.Options, 'width' | 'height'>, empty: uPlot.AlignedData) {
    this.body = h('div.chart-body');
    this.card = h('section.card.chart', { id }, h('h2', null, title), this.body);
    parent.append(this.card);
    this.u = new uPlot({ ...opts, width: Math.max(200, this.body.clientWidth), height: HEIGHT }, empty, this.body);
    this.card.dataset.points = '0';
    new ResizeObserver(() => {
      const w = this.body.clientWidth;
      if (w > 0 && w !== this.u.width) this.u.setSize({ width: w, height: HEIGHT });
    }).observe(this.body);
  }

  set(data: uPlot.AlignedData): void {
    this.u.setData(data);
    this.card.dataset.points = String(data[0]?.length ?? 0);
  }
}

type Fmt = (v: number, idx: number) => string;

/**
 * A legend value: at the cursor while hovering, else the latest value, so
 * the legend doubles as a readout of where the run is now.
 */
function legend(fmt: Fmt): NonNullable<uPlot.Series['value']> {
  return (u, v, si, idx) => {
    if (idx === null) {
      const d = u.data[si] as (number | null | undefined)[];
      let i = d.length - 1;
      while (i >= 0 && (d[i] === null || d[i] === undefined)) i--;
      if (i < 0) return '—';
      idx = i;
      v = d[i]!;
    }
    return v === null || v === undefined ? '—' : fmt(v, idx);
  };
}
const legendNum = (digits: number) => legend((v) => fmtNum(v, digits));
const stepValue = { label: 'step', value: legend((v) => String(v)) };

/** The dashboard's four charts, redrawn from a RunSeries. */
export class Charts {
  private readonly loss: Chart;
  private readonly accuracy: Chart;
  private readonly speed: Chart;
  private readonly timing: Chart;
  private drawn = -1;
  /** Raw (unstacked) step-time columns, for the legend of the stacked chart. */
  private raw: number[][] = [[], [], []];

  constructor(parent: HTMLElement) {
    const common = { scales: { x: { time: false } }, cursor: { drag: { x: true, y: false } } };
    this.loss = new Chart(
      parent,
      'chart-loss',
      'Loss',
      {
        ...common,
        axes: axes('loss'),
        series: [
          stepValue,
          { label: 'training loss (batch)', stroke: COLORS.loss, width: 1.5, value: legendNum(4) },
          { label: 'test loss', stroke: COLORS.test, width: 2, spanGaps: true, points: { show: true, size: 5 }, value: legendNum(4) },
        ],
      },
      [[], [], []],
    );
    this.accuracy = new Chart(
      parent,
      'chart-accuracy',
      'Test accuracy',
      {
        ...common,
        scales: { x: { time: false }, y: { range: (_u, min, max) => [Math.max(0, Math.floor(min - 2)), Math.min(100, Math.ceil(max + 2))] } },
        axes: axes('accuracy %', (_u, vals) => vals.map((v) => `${v}%`)),
        series: [
          stepValue,
          { label: 'test accuracy', stroke: COLORS.accuracy, width: 2, points: { show: true, size: 5 }, value: legend((v) => `${v.toFixed(2)}%`) },
        ],
      },
      [[], []],
    );
    this.speed = new Chart(
      parent,
      'chart-speed',
      'Throughput (samples/s)',
      {
        ...common,
        axes: axes('samples/s', (_u, vals) => vals.map((v) => fmtRate(v))),
        series: [
          stepValue,
          { label: 'per step', stroke: `${COLORS.speed}55`, width: 1, value: legend((v) => fmtRate(v)) },
          { label: 'moving average', stroke: COLORS.speed, width: 2, value: legend((v) => fmtRate(v)) },
        ],
      },
      [[], [], []],
    );
    // Stacked areas: each series holds the running sum, bands fill between neighbours,
    // and the legend shows each part's own value.
    const part = (i: number) => legend((_v, idx) => (this.raw[i]![idx] === undefined ? '—' : `${fmtNum(this.raw[i]![idx]!, 3)} ms`));
    this.timing = new Chart(
      parent,
      'chart-timing',
      'Step time (ms)',
      {
        ...common,
        axes: axes('ms'),
        series: [
          stepValue,
          { label: 'computing', stroke: COLORS.compute, fill: `${COLORS.compute}40`, width: 1, value: part(0) },
          { label: 'communicating', stroke: COLORS.comm, fill: `${COLORS.comm}40`, width: 1, value: part(1) },
          { label: 'waiting for the slowest', stroke: COLORS.wait, fill: `${COLORS.wait}40`, width: 1, value: part(2) },
        ],
        bands: [
          { series: [3, 2], fill: `${COLORS.wait}40` },
          { series: [2, 1], fill: `${COLORS.comm}40` },
        ],
      },
      [[], [], [], []],
    );
  }

  render(s: RunSeries): void {
    if (s.version === this.drawn) return;
    this.drawn = s.version;
    this.loss.set(uPlot.join([[s.x, s.loss as number[]], [s.evalX, s.testLoss as number[]]]));
    this.accuracy.set([s.evalX, s.testAccuracy.map((a) => (a === null ? null : 100 * a)) as number[]]);
    this.speed.set([s.x, s.samplesPerSec, s.smoothSamplesPerSec]);
    const n = s.x.length;
    const c1 = new Array<number>(n);
    const c2 = new Array<number>(n);
    const c3 = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      c1[i] = s.computeMs[i]!;
      c2[i] = c1[i]! + s.commMs[i]!;
      c3[i] = c2[i]! + s.waitMs[i]!;
    }
    this.raw = [s.computeMs, s.commMs, s.waitMs];
    this.timing.set([s.x, c1, c2, c3]);
  }
}
