import type { ModelSpec } from '@gradmesh/core';
import { copyText, h, setText } from '../dom.js';
import { DASH, fmtDuration, fmtInt, fmtNum, fmtPercent, fmtRate } from '../format.js';
import type { DoneSummary, RunConfig, RunStatus } from './types.js';

function stat(label: string, id: string): [HTMLElement, HTMLElement] {
  const value = h('div.value', { id });
  return [h('div.stat', null, h('div.label', null, label), value), value];
}

/** Step of total with a bar, time elapsed and left, and the headline numbers. */
export class ProgressPanel {
  readonly el: HTMLElement;
  private readonly bar: HTMLElement;
  private readonly caption: HTMLElement;
  private readonly v: Record<string, HTMLElement> = {};

  constructor() {
    this.bar = h('div.progress-fill');
    this.caption = h('div.progress-caption', { id: 'progress-caption' }, 'waiting for the coordinator…');
    const stats = h('div.stats');
    for (const [label, id] of [
      ['step', 'stat-step'],
      ['epoch', 'stat-epoch'],
      ['elapsed', 'stat-elapsed'],
      ['time left', 'stat-eta'],
      ['training loss', 'stat-loss'],
      ['test accuracy', 'stat-accuracy'],
      ['samples / s', 'stat-speed'],
      ['workers', 'stat-workers'],
    ] as const) {
      const [box, value] = stat(label, id);
      this.v[id] = value;
      stats.append(box);
    }
    this.el = h('section.card.progress', null, h('div.progress-track', null, this.bar), this.caption, stats);
  }

  update(s: RunStatus, summary: DoneSummary | null): void {
    const frac = s.totalSteps > 0 ? s.step / s.totalSteps : 0;
    this.bar.style.width = `${(100 * Math.min(1, frac)).toFixed(2)}%`;
    const what = summary
      ? `finished: ${fmtInt(summary.steps)} steps in ${fmtDuration(summary.seconds)}; test accuracy ${fmtPercent(summary.testAccuracy, 2)}, test loss ${fmtNum(summary.testLoss, 4)} · params sha256 ${summary.paramsSha256.slice(0, 16)}…`
      : s.state === 'waiting'
        ? `waiting for workers to join (${s.workers.length} connected)`
        : s.state === 'stopped'
          ? `stopped at step ${fmtInt(s.step)}`
          : `${fmtPercent(frac)} done`;
    setText(this.caption, what);
    setText(this.v['stat-step']!, `${fmtInt(s.step)} / ${fmtInt(s.totalSteps)}`);
    setText(this.v['stat-epoch']!, fmtInt(s.epoch + 1));
    setText(this.v['stat-elapsed']!, fmtDuration(s.elapsedSec));
    setText(this.v['stat-eta']!, s.state === 'done' ? '0 s' : s.state === 'training' ? fmtDuration(s.etaSec) : DASH);
    setText(this.v['stat-loss']!, fmtNum(s.loss, 4));
    setText(this.v['stat-accuracy']!, fmtPercent(s.testAccuracy, 2));
    setText(this.v['stat-speed']!, s.state === 'training' ? fmtRate(s.samplesPerSec) : s.samplesPerSec ? fmtRate(s.samplesPerSec) : DASH);
    setText(this.v['stat-workers']!, fmtInt(s.workers.length));
  }
}

function paramCount(spec: ModelSpec): number {
  let n = 0;
  let inputs = spec.inputs;
  for (const l of spec.layers) {
    n += inputs * l.units + l.units;
    inputs = l.units;
  }
  return n;
}

/** The run's configuration as the coordinator reported it. */
export function configList(c: RunConfig): HTMLElement {
  const o = c.optimizer;
  const layers = c.spec.layers.map((l) => `${l.units} ${l.activation}`).join(' → ');
  const schedule = o.schedule
    ? o.schedule.kind === 'cosine'
      ? `cosine over ${fmtInt(o.schedule.totalSteps)} steps`
      : o.schedule.kind === 'step'
        ? `×${o.schedule.gamma} every ${fmtInt(o.schedule.every)} steps`
        : 'constant'
    : 'constant';
  const rows: Array<[string, string]> = [
    ['dataset', c.label ? `${c.dataset} (label ${c.label})` : c.dataset],
    ['model', `${c.spec.inputs} → ${layers}`],
    ['parameters', fmtInt(paramCount(c.spec))],
    ['loss', c.spec.loss],
    ['optimizer', `${o.kind}, lr ${fmtNum(o.lr, 3)}${o.weightDecay ? `, weight decay ${fmtNum(o.weightDecay)}` : ''}${o.clipNorm ? `, clip ${fmtNum(o.clipNorm)}` : ''}`],
    ['schedule', `${schedule}${o.warmupSteps ? `, ${fmtInt(o.warmupSteps)} warm-up steps` : ''}`],
    ['batch', `${fmtInt(c.batch)} (micro-batches of ${fmtInt(c.microBatch)})`],
    ['steps', fmtInt(c.steps)],
    ['seed', String(c.seed)],
  ];
  return h('dl.kv', { id: 'config' }, ...rows.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

function copyLine(id: string, text: string): HTMLElement {
  const code = h('code', { id }, text);
  const button = h('button.small', { type: 'button', 'data-copy': id }, 'Copy');
  button.addEventListener('click', async () => {
    const ok = await copyText(text, code);
    setText(button, ok ? 'Copied' : 'Select and copy');
    setTimeout(() => setText(button, 'Copy'), 1500);
  });
  return h('div.copyline', null, code, button);
}

/**
 * How to join: the browser link and the command for another machine, both
 * built from this page's own address and its ?token=. Without a token there
 * is nothing to share: say so.
 */
export function joinPanel(loc: Location): HTMLElement {
  const token = new URLSearchParams(loc.search).get('token');
  const card = h('section.card.join-panel', { id: 'join' }, h('h2', null, 'Add workers'));
  if (!token) {
    card.append(
      h(
        'p.notice',
        { id: 'no-token' },
        'This page was opened without the run’s token, so it cannot show a join link. Open the dashboard link the coordinator printed (it ends in ?token=…), or pass the token printed as “token:” to workers yourself.',
      ),
    );
    return card;
  }
  const wsUrl = `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/ws`;
  const join = `${loc.origin}/join?token=${encodeURIComponent(token)}`;
  card.append(
    h('div.muted', null, 'Open in a browser (any device that can reach this address):'),
    copyLine('join-link', join),
    h('div.muted', null, 'Or run a worker on another machine (in a gradmesh checkout):'),
    copyLine('worker-command', `pnpm gradmesh worker --url ${wsUrl} --token ${token}`),
  );
  if (/^(127\.|localhost$|\[::1\]$)/.test(loc.hostname)) {
    card.append(h('p.muted.hint', null, 'This address is only reachable from this machine. To let other machines and phones join, start the coordinator with --host 0.0.0.0 and open the dashboard at this machine’s network address.'));
  }
  return card;
}
