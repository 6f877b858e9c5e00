// The dashboard: a live view of one run over the coordinator's /feed
// WebSocket (no polling). On every (re)connect the feed's snapshot is followed
// by one fetch of /api/history, so a page opened mid-run still shows the run
// from its first step.
import './styles.css';
import './dashboard.css';
import { byId, h, setText } from './dom.js';
import { Charts } from './dashboard/charts.js';
import { Feed, type FeedState } from './dashboard/feed.js';
import { configList, joinPanel, ProgressPanel } from './dashboard/panels.js';
import { RunSeries } from './dashboard/series.js';
import type { DoneSummary, FeedMessage, RunConfig, RunHistory, RunStatus, StepReport } from './dashboard/types.js';
import { WorkersTable } from './dashboard/workers-table.js';

const runPill = byId('run-state');
const feedPill = byId('feed-state');
const main = byId('main');

const progress = new ProgressPanel();
const chartGrid = h('div.charts');
const workers = new WorkersTable();
const configCard = h('section.card', { id: 'config-card' }, h('h2', null, 'Configuration'), h('div.muted', null, 'waiting for the coordinator…'));
main.append(
  progress.el,
  chartGrid,
  h('section.card.workers-card', null, h('h2', null, 'Workers'), h('div.table-wrap', null, workers.el)),
  h('div.lower', null, joinPanel(location), configCard),
);
const charts = new Charts(chartGrid);
const series = new RunSeries();

let status: RunStatus | null = null;
let config: RunConfig | null = null;
let summary: DoneSummary | null = null;
let feedState: FeedState = 'connecting';
/** Steps that arrive while the history is being fetched; merged once it is in. */
let pending: StepReport[] | null = null;
let frame = 0;

function onMessage(msg: FeedMessage): void {
  switch (msg.type) {
    case 'snapshot':
      status = msg.status;
      if (JSON.stringify(msg.config) !== JSON.stringify(config)) {
        config = msg.config;
        configCard.replaceChildren(h('h2', null, 'Configuration'), configList(config));
      }
      if (msg.status.state !== 'done') summary = null;
      void loadHistory(msg.status);
      break;
    case 'step':
      status = msg.status;
      if (pending) pending.push(msg.report);
      else series.addStep(msg.report);
      break;
    case 'eval':
      series.addEval(msg.step, msg.testLoss, msg.testAccuracy);
      break;
    case 'workers':
      status = msg.status;
      break;
    case 'done':
      status = msg.status;
      summary = msg.summary;
      series.addEval(msg.summary.steps, msg.summary.testLoss, msg.summary.testAccuracy);
      break;
  }
  schedule();
}

async function loadHistory(at: RunStatus): Promise<void> {
  pending = [];
  try {
    const res = await fetch('/api/history', { cache: 'no-store' });
    if (res.ok) {
      const hist = (await res.json()) as RunHistory;
      series.load(hist);
      // The final evaluation of a finished run follows its last step; the status carries it.
      if (at.state === 'done' && at.testLoss !== null) series.addEval(at.step, at.testLoss, at.testAccuracy);
    }
  } catch {
    // No history (an older coordinator, or it went away): live steps still draw.
  } finally {
    const queued = pending ?? [];
    pending = null;
    for (const r of queued) series.addStep(r);
    schedule();
  }
}

/** One paint per frame however many messages arrived (and none while the tab is hidden). */
function schedule(): void {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    render();
  });
}

function pill(el: HTMLElement, kind: string, text: string): void {
  const cls = `pill ${kind}`;
  if (el.className !== cls) el.className = cls;
  setText(el, text);
}

function render(): void {
  if (status) {
    progress.update(status, summary);
    workers.update(status.workers, status.state === 'done' || status.state === 'stopped');
    const st = status.state;
    pill(runPill, st === 'training' ? 'good busy' : st === 'done' ? 'good' : st === 'stopped' ? 'bad' : 'warn', st === 'waiting' ? 'waiting for workers' : st);
  }
  charts.render(series);
  const finished = status?.state === 'done' || status?.state === 'stopped';
  if (feedState === 'live') pill(feedPill, 'good', 'live');
  else if (feedState === 'connecting') pill(feedPill, 'warn busy', 'connecting');
  else pill(feedPill, finished ? 'idle' : 'bad busy', finished ? 'coordinator has exited' : 'disconnected, retrying');
  document.title = status ? `gradmesh · ${status.state === 'training' ? `step ${status.step}/${status.totalSteps}` : status.state}` : 'gradmesh';
}

new Feed(
  `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/feed`,
  onMessage,
  (state) => {
    feedState = state;
    schedule();
  },
).start();
render();
