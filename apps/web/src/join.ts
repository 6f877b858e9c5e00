// The join page: starts a Web Worker that joins the run named by this page's
// URL (?token=…) and shows what this browser contributes.
import './styles.css';
import './join.css';
import type { ClientStatus } from '@gradmesh/client';
import { byId, setText } from './dom.js';
import { fmtBytes, fmtInt, fmtNum, fmtRate } from './format.js';
import type { FromWorker, RunSummary, ToWorker } from './join-messages.js';

/** The hashed worker bundle's path, set by build.mjs. */
declare const __JOIN_WORKER_URL__: string;

const query = new URLSearchParams(location.search);
const token = query.get('token');
const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
const name = workerName();

const el = {
  state: byId('state'),
  headline: byId('headline'),
  detail: byId('detail'),
  steps: byId('steps'),
  samples: byId('samples'),
  speed: byId('speed'),
  loss: byId('loss'),
  stop: byId<HTMLButtonElement>('stop'),
  rejoin: byId<HTMLButtonElement>('rejoin'),
  note: byId('note'),
  name: byId('name'),
  worker: byId('worker'),
  coordinator: byId('coordinator'),
  run: byId('run'),
  dataset: byId('dataset'),
  model: byId('model'),
  version: byId('version'),
  problem: byId('problem'),
  log: byId('log'),
};

let worker: Worker | null = null;
let status: ClientStatus | null = null;
let run: RunSummary | null = null;
let ended: { how: 'done' | 'stopped' | 'failed'; reason: string } | null = null;
let leftOnPagehide = false;
let frame = 0;

setText(el.name, name);
setText(el.coordinator, location.host);

if (!token) {
  showState('bad', 'No token in this link', false);
  setText(el.headline, 'This link cannot join a run: it has no token.');
  setText(el.detail, 'Open the “browsers:” link the coordinator printed; it ends in /join?token=…');
} else {
  void checkToken(token).then((ok) => ok && start(token));
}

el.stop.addEventListener('click', () => stop('stopped by the person at this browser'));
el.rejoin.addEventListener('click', () => {
  if (token) void checkToken(token).then((ok) => ok && start(token));
});

// Leave cleanly when the tab closes or navigates away: the coordinator gets a
// `leave` and reassigns any shard at once instead of waiting out a deadline.
addEventListener('pagehide', () => {
  if (!worker || ended) return;
  leftOnPagehide = true;
  stop('the tab was closed');
});
// Back to a page restored from the back/forward cache: rejoin.
addEventListener('pageshow', (ev) => {
  if (ev.persisted && leftOnPagehide && token) {
    leftOnPagehide = false;
    start(token);
  }
});

/**
 * Browsers hide why a WebSocket upgrade was refused, so a wrong or stale
 * token would look like an endless reconnect. The dataset URL checks the same
 * token over plain HTTP: ask it first (HEAD, no body).
 */
async function checkToken(t: string): Promise<boolean> {
  let status = 0;
  try {
    const res = await fetch(`/dataset.bin?token=${encodeURIComponent(t)}`, { method: 'HEAD', cache: 'no-store' });
    await res.arrayBuffer(); // empty; reading it completes the request instead of leaving it to be aborted
    status = res.status;
  } catch {
    return true; // unreachable right now: the client's reconnect loop will say so
  }
  if (status !== 401) return true;
  worker?.terminate();
  worker = null;
  ended = { how: 'failed', reason: 'This link’s token is not the run’s token. The coordinator may have been restarted with a new one: ask for a fresh join link.' };
  el.stop.disabled = true;
  el.rejoin.hidden = false;
  render();
  return false;
}

function start(t: string): void {
  worker?.terminate();
  status = null;
  run = null;
  ended = null;
  el.rejoin.hidden = true;
  el.stop.disabled = false;
  setText(el.note, '');
  setText(el.log, '');
  const w = new Worker(__JOIN_WORKER_URL__, { name: 'gradmesh-join' });
  worker = w;
  w.onmessage = (ev: MessageEvent<FromWorker>) => {
    if (w === worker) onWorkerMessage(ev.data);
  };
  w.onerror = (ev) => {
    if (w !== worker) return;
    ev.preventDefault();
    onWorkerMessage({ type: 'ended', how: 'failed', reason: `the worker thread crashed: ${ev.message || 'unknown error'}` });
  };
  send({ type: 'start', url: wsUrl, token: t, name });
  render();
}

function stop(reason: string): void {
  if (!worker || ended) return;
  send({ type: 'stop', reason });
  el.stop.disabled = true;
  setText(el.note, 'leaving the run…');
}

function send(msg: ToWorker): void {
  worker?.postMessage(msg);
}

function onWorkerMessage(msg: FromWorker): void {
  switch (msg.type) {
    case 'status': {
      const before = status;
      status = msg.status;
      // A coordinator restarted with a new token refuses every reconnect; find out why once.
      if (token && status.state === 'reconnecting' && status.attempt === 3 && before?.attempt !== 3) void checkToken(token);
      break;
    }
    case 'run':
      run = msg.run;
      break;
    case 'log':
      appendLog(msg.line);
      return;
    case 'ended': {
      ended = { how: msg.how, reason: msg.reason };
      appendLog(`ended (${msg.how}): ${msg.reason}`);
      const w = worker;
      // Give the socket a moment to carry `leave` and the close frame before the thread goes.
      setTimeout(() => w?.terminate(), 1000);
      el.stop.disabled = true;
      el.rejoin.hidden = false;
      setText(el.note, '');
      break;
    }
  }
  schedule();
}

/** Coalesce status bursts into one paint (and none at all while the tab is hidden). */
function schedule(): void {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    render();
  });
}

function render(): void {
  const s = status;
  setText(el.steps, fmtInt(s?.stepsDone ?? 0));
  setText(el.samples, fmtInt(s?.samplesDone ?? 0));
  setText(el.speed, fmtRate(s?.samplesPerSec));
  setText(el.loss, fmtNum(s?.lossMean, 4));
  setText(el.worker, s?.workerId ?? '—');
  setText(el.version, s?.paramsVersion === null || s?.paramsVersion === undefined ? '—' : `v${s.paramsVersion}`);
  setText(el.problem, s?.lastError ?? 'none');
  setText(el.run, s?.runId ?? '—');
  if (run) {
    setText(el.dataset, `${run.dataset} (${fmtBytes(run.datasetBytes)}, downloaded in ${Math.round(run.datasetMs)} ms)`);
    setText(el.model, `${fmtInt(run.paramCount)} parameters · batch ${run.batch} in micro-batches of ${run.microBatch}`);
  }
  if (ended) {
    if (ended.how === 'done') {
      showState('good', 'finished', false);
      setText(el.headline, 'The run is finished. Thank you for contributing!');
      setText(el.detail, `The coordinator said: ${ended.reason}. You can close this tab.`);
    } else if (ended.how === 'stopped') {
      showState('idle', 'stopped', false);
      setText(el.headline, 'Stopped. This browser no longer contributes.');
      setText(el.detail, 'The coordinator has reassigned this browser’s share of the batch. Join again to help once more.');
    } else {
      showState('bad', 'failed', false);
      setText(el.headline, 'This browser could not contribute.');
      setText(el.detail, ended.reason);
    }
    document.title = `gradmesh · ${ended.how}`;
    return;
  }
  const state = s?.state ?? 'connecting';
  switch (state) {
    case 'idle':
    case 'connecting':
      showState('warn', 'connecting', true);
      setText(el.headline, 'Connecting to the coordinator…');
      break;
    case 'joining':
      showState('warn', 'joining', true);
      setText(el.headline, 'Joining the run…');
      break;
    case 'setting-up':
      showState('warn', 'setting up', true);
      setText(el.headline, 'Downloading the dataset and building the model…');
      break;
    case 'ready':
      showState('good', (s?.tasksDone ?? 0) > 0 ? 'contributing' : 'connected', true);
      setText(el.headline, s?.busy || (s?.tasksDone ?? 0) > 0 ? 'Computing gradients for this run.' : 'Connected; waiting for the first task.');
      break;
    case 'reconnecting':
      showState('warn', 'reconnecting', true);
      setText(el.headline, `Connection lost; reconnecting (attempt ${s?.attempt ?? 1})…`);
      break;
    default:
      showState('idle', state, false);
  }
  setText(el.detail, 'This page computes gradients for a neural network being trained by a gradmesh coordinator. It runs in a background thread; you can keep using the browser. Closing the tab leaves the run.');
  document.title = s && s.stepsDone > 0 ? `gradmesh · ${fmtInt(s.stepsDone)} steps contributed` : 'gradmesh · join a training run';
}

function showState(kind: 'good' | 'warn' | 'bad' | 'idle', text: string, busy: boolean): void {
  const cls = `pill ${kind}${busy ? ' busy' : ''}`;
  if (el.state.className !== cls) el.state.className = cls;
  setText(el.state, text);
}

function appendLog(line: string): void {
  const lines = `${el.log.textContent ?? ''}${new Date().toLocaleTimeString()} ${line}\n`.split('\n');
  // Keep the last 200 lines: a page left open for days must not grow without bound.
  el.log.textContent = lines.slice(-201).join('\n');
  el.log.scrollTop = el.log.scrollHeight;
}

/** A name the dashboard can show: ?name=… if given, else "browser-<os>-<4 hex>", kept for this tab's session. */
function workerName(): string {
  const given = query.get('name');
  if (given) return given.slice(0, 64);
  const key = 'gradmesh.worker-name';
  try {
    const kept = sessionStorage.getItem(key);
    if (kept) return kept;
  } catch {
    // storage may be disabled
  }
  const ua = navigator.userAgent;
  const os = /Android/.test(ua) ? 'android' : /iPhone|iPad/.test(ua) ? 'ios' : /Mac/.test(ua) ? 'mac' : /Win/.test(ua) ? 'windows' : /Linux|X11/.test(ua) ? 'linux' : 'web';
  const rand = crypto.getRandomValues(new Uint16Array(1))[0]!.toString(16).padStart(4, '0');
  const made = `browser-${os}-${rand}`;
  try {
    sessionStorage.setItem(key, made);
  } catch {}
  return made;
}
