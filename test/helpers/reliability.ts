import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import { WorkerClient, type ClientStatus, type TaskEngine, type TaskResult } from '@gradmesh/client';
import { NodeTaskEngine } from '@gradmesh/worker';
import { decodeServerMessage, encode, PROTOCOL_VERSION, type ClientMessage, type RunInfo, type ServerMessage, type TaskMessage } from '@gradmesh/protocol';
import { lastJson, runCli, spawnCli, waitFor } from './cli.js';
import { startCoordinator as startCoordinatorProcess, type RunningCoordinator } from './coordinator.js';

/**
 * Shared pieces of the reliability and security tests: the small run every
 * fault must reproduce, its single-process oracle, workers that live in the
 * test process (cheap to start, killable at the socket), a raw protocol
 * client for hostile traffic, the ledger check and the coordinator's RSS.
 */

// spirals (300 training samples, 10 steps an epoch, the last of 12 samples), 2-32-3,
// batch 32 cut into 8 micro-batches of 4: shards of 1..4 workers fall on different boundaries.
export const SPIRALS_TRAIN = 300;
export const BATCH = 32;
export const MICRO = 4;
export const base = (steps: number, seed = 7): string[] => [
  '--dataset', 'spirals', '--model', '32', '--steps', String(steps), '--batch', String(BATCH), '--micro-batch', String(MICRO), '--seed', String(seed), '--lr', '0.01',
];

export interface Reference {
  sha: string;
  testLoss: number;
  /** Per-step training loss, to find where a run diverged. */
  losses: number[];
}

/** Per-step losses from a --metrics-out file. */
export function stepLosses(file: string): number[] {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { loss?: number; event?: string })
    .filter((x) => x.event === undefined)
    .map((x) => x.loss!);
}

/** The first step at which two loss curves differ, or -1. */
export function firstDivergence(a: number[], b: number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : Math.min(a.length, b.length);
}

const references = new Map<string, Promise<Reference>>();

/** The oracle: `gradmesh train --threads 1` with the same flags (memoised per flag set). */
export function reference(args: string[]): Promise<Reference> {
  const key = args.join(' ');
  let p = references.get(key);
  if (!p) {
    const metrics = join(mkdtempSync(join(tmpdir(), 'gm-ref-')), 'metrics.jsonl');
    p = runCli(['train', ...args, '--threads', '1', '--json', '--quiet', '--metrics-out', metrics]).then((r) => {
      if (r.code !== 0) throw new Error(`reference run failed (${r.code}):\n${r.stderr}`);
      const done = lastJson(r.stdout);
      return { sha: done.paramsSha256, testLoss: done.testLoss, losses: stepLosses(metrics) };
    });
    references.set(key, p);
  }
  return p;
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
    s.on('error', rej);
  });
}

/** Resident set size of a process in KiB (Linux /proc), or NaN once it is gone. */
export function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs async jobs with at most `limit` in flight; results in input order. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

/** At most n async jobs at once across every caller of the returned function (tests running concurrently share it). */
export function semaphore(n: number): <T>(job: () => Promise<T>) => Promise<T> {
  let free = n;
  const waiting: Array<() => void> = [];
  return async (job) => {
    if (free === 0) await new Promise<void>((res) => waiting.push(res));
    else free--;
    try {
      return await job();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else free++;
    }
  };
}

/** A small seeded PRNG (mulberry32) for kill points and churn schedules. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- the ledger ------------------------------------------------------------

export interface LedgerRow {
  step: number;
  taskId: number;
  worker: string;
  mbLo: number;
  mbHi: number;
  status: 'assigned' | 'done' | 'lost' | 'reassigned' | 'late';
}

export function readLedger(file: string): LedgerRow[] {
  const text = readFileSync(file, 'utf8').trim();
  return text === '' ? [] : text.split('\n').map((l) => JSON.parse(l) as LedgerRow);
}

/** Micro-batches of step t of a spirals run with batch 32 in micro-batches of 4. */
export const microBatchesAt = (step: number): number => {
  const perEpoch = Math.ceil(SPIRALS_TRAIN / BATCH);
  const inEpoch = step % perEpoch;
  return Math.ceil(Math.min(BATCH, SPIRALS_TRAIN - inEpoch * BATCH) / MICRO);
};

/**
 * Every micro-batch of steps [from, to) was counted exactly once ('done'),
 * whatever was lost or reassigned. Returns the first problem, or undefined.
 */
export function countedOnce(rows: LedgerRow[], from: number, to: number): string | undefined {
  const counts = new Map<number, number[]>();
  for (let s = from; s < to; s++) counts.set(s, new Array<number>(microBatchesAt(s)).fill(0));
  for (const r of rows) {
    if (r.status !== 'done') continue;
    const c = counts.get(r.step);
    if (!c) return `a 'done' row for step ${r.step}, outside the run's steps [${from}, ${to})`;
    for (let j = r.mbLo; j < r.mbHi; j++) {
      if (j >= c.length) return `step ${r.step}: micro-batch ${j} does not exist (${c.length} in the step)`;
      c[j]!++;
    }
  }
  for (const [s, c] of counts) for (let j = 0; j < c.length; j++) if (c[j] !== 1) return `step ${s} micro-batch ${j} counted ${c[j]} times`;
  return undefined;
}

// ---- workers in this process -------------------------------------------------

export interface InProcessWorker {
  name: string;
  /** Resolves with the run's end ('done' reason), or the failure / kill. */
  result: Promise<{ reason: string } | { error: string }>;
  status: () => ClientStatus;
  /** Like SIGKILL from the coordinator's side: the TCP connection just ends, no leave, no reconnect. */
  kill: () => void;
  /** A polite exit: leave message, then close. */
  leave: () => void;
  /** The current socket, for tests that pause or inspect it. */
  socket: () => WebSocket | null;
}

/**
 * A real worker (the client and engine `gradmesh worker` runs, one thread)
 * living in the test process: no process start-up (≈2 s of CPU under tsx),
 * and killable at the socket. `wrap` lets a test interpose on the engine.
 */
export function startInProcessWorker(
  c: { wsUrl: string; token: string },
  name: string,
  opts: { wrap?: (e: TaskEngine) => TaskEngine; onStatus?: (s: ClientStatus) => void; reconnect?: { initialMs: number; maxMs: number; maxAttempts: number } } = {},
): InProcessWorker {
  let dead = false;
  let current: WebSocket | null = null;
  class Sock extends WebSocket {
    constructor(url: string) {
      if (dead) throw new Error('killed');
      super(url);
      current = this;
    }
  }
  const node = new NodeTaskEngine(1, c.token, () => {}, c.wsUrl);
  const engine = opts.wrap ? opts.wrap(node) : node;
  const client = new WorkerClient({
    url: c.wsUrl,
    token: c.token,
    name,
    kind: 'node',
    threads: 1,
    engine,
    WebSocket: Sock as never,
    reconnect: opts.reconnect ?? { initialMs: 100, maxMs: 1000, maxAttempts: 60 },
    ...(opts.onStatus ? { onStatus: opts.onStatus } : {}),
  });
  const result = client.run().then(
    (r) => r,
    (e: Error) => ({ error: e.message }),
  );
  void result.finally(() => node.close());
  return {
    name,
    result,
    status: () => client.status,
    kill: () => {
      dead = true;
      const s = current as unknown as { _socket?: Socket } | null;
      s?._socket?.destroy();
    },
    leave: () => client.stop('test leaves'),
    socket: () => current,
  };
}

// ---- a raw protocol peer ------------------------------------------------------

export interface Reply {
  kind: 'error' | 'close';
  code: string | number;
  message?: string;
}

/**
 * One WebSocket to /ws speaking the protocol by hand: tests send whatever
 * bytes they like and read the coordinator's typed replies in order. Tasks
 * and params are kept aside (a joined peer is sent work like any worker).
 */
export class RawPeer {
  readonly ws: WebSocket;
  readonly replies: Reply[] = [];
  readonly tasks: TaskMessage[] = [];
  run: RunInfo | null = null;
  params: { version: number; params: Float32Array } | null = null;
  /** The last few parameter versions, for computing a task against the version it names. */
  readonly paramsByVersion = new Map<number, Float32Array>();
  /** Messages of each type received, including ones kept nowhere else. */
  readonly received: Record<string, number> = {};
  workerId: string | null = null;
  closed: { code: number; reason: string } | null = null;
  private waiters: Array<() => void> = [];
  readonly opened: Promise<void>;

  /** Set to compute every task honestly and send the gradient (a peer that also does its job). */
  compute: ((t: TaskMessage, params: Float32Array) => Promise<TaskResult>) | null = null;
  computed = 0;
  private computing: Promise<void> = Promise.resolve();

  constructor(url: string, opts: { origin?: string; headers?: Record<string, string>; compute?: (t: TaskMessage, params: Float32Array) => Promise<TaskResult> } = {}) {
    this.compute = opts.compute ?? null;
    this.ws = new WebSocket(url, { ...(opts.origin ? { origin: opts.origin } : {}), ...(opts.headers ? { headers: opts.headers } : {}) });
    this.opened = new Promise((res, rej) => {
      this.ws.once('open', () => res());
      this.ws.once('unexpected-response', (req, resp) => {
        rej(Object.assign(new Error(`HTTP ${resp.statusCode}`), { status: resp.statusCode }));
        req.destroy();
      });
      this.ws.once('error', (e) => rej(e));
    });
    this.opened.catch(() => {});
    this.ws.on('error', () => {});
    this.ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        this.replies.push({ kind: 'error', code: 'TEXT_FROM_SERVER' });
      } else {
        const r = decodeServerMessage(new Uint8Array(data));
        if (!r.ok) this.replies.push({ kind: 'error', code: `UNDECODABLE:${r.code}` });
        else this.onMessage(r.msg);
      }
      this.wake();
    });
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.replies.push({ kind: 'close', code, message: reason.toString() });
      this.wake();
    });
  }

  private onMessage(msg: ServerMessage): void {
    this.received[msg.type] = (this.received[msg.type] ?? 0) + 1;
    switch (msg.type) {
      case 'error':
        this.replies.push({ kind: 'error', code: msg.code, message: msg.message });
        break;
      case 'welcome':
        this.workerId = msg.workerId;
        this.run = msg.run;
        break;
      case 'params':
        this.params = { version: msg.version, params: msg.params.slice() };
        this.paramsByVersion.set(msg.version, this.params.params);
        this.paramsByVersion.delete(msg.version - 4);
        break;
      case 'task': {
        const task = { ...msg, indices: msg.indices.slice() };
        this.tasks.push(task);
        if (this.compute) this.computing = this.computing.then(() => this.answer(task)).catch(() => {});
        break;
      }
      case 'done':
        break;
    }
  }

  private async answer(t: TaskMessage): Promise<void> {
    const params = this.paramsByVersion.get(t.paramsVersion);
    if (!params || !this.compute) return;
    const r = await this.compute(t, params);
    this.sendMsg({ type: 'gradient', step: t.step, taskId: t.taskId, samples: r.samples, computeMs: r.computeMs, nodes: r.nodes, losses: r.losses, grad: r.grad });
    this.computed++;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves when `pred` holds, checked after every arriving message. */
  until<T>(pred: () => T | undefined | null | false, timeoutMs = 5000): Promise<T | undefined> {
    const v = pred();
    if (v) return Promise.resolve(v);
    return new Promise((res) => {
      const t = setTimeout(() => res(undefined), timeoutMs);
      const check = (): void => {
        const v2 = pred();
        if (v2 || this.closed) {
          clearTimeout(t);
          res(v2 || undefined);
        } else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }

  send(frame: Uint8Array | string): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(frame, { binary: typeof frame !== 'string' });
  }

  sendMsg(msg: ClientMessage): void {
    this.send(encode(msg));
  }

  /** Joins the run (optionally announcing a speed in samples/s). */
  async hello(name = 'raw', speed?: number): Promise<void> {
    await this.opened;
    this.sendMsg({ type: 'hello', protocol: PROTOCOL_VERSION, name, kind: 'node', threads: 1, ...(speed !== undefined ? { speed } : {}) });
    await this.until(() => this.workerId, 10_000);
    if (!this.workerId) throw new Error(`no welcome for ${name}: ${JSON.stringify(this.replies)}`);
  }

  /** The next reply (error message or close) after `index` replies. */
  async replyAfter(index: number, timeoutMs = 5000): Promise<Reply | undefined> {
    return this.until(() => this.replies[index], timeoutMs);
  }

  close(): void {
    try {
      this.ws.terminate();
    } catch {}
  }
}

/**
 * An engine computing real gradients, for raw peers that must also behave.
 * Calls are serialised and results copied: the engine hands out gradients in
 * pooled buffers that its next task overwrites, so peers sharing one engine
 * must not interleave (the Node worker never does: one task at a time).
 */
export async function honestEngine(run: RunInfo, token: string, wsUrl: string): Promise<{ engine: NodeTaskEngine; compute: (t: TaskMessage, params: Float32Array) => Promise<TaskResult> }> {
  const engine = new NodeTaskEngine(1, token, () => {}, wsUrl);
  await engine.setup(run);
  let chain: Promise<unknown> = Promise.resolve();
  return {
    engine,
    compute: (t, params) => {
      const next = chain.then(async () => {
        engine.setParams(t.paramsVersion, params);
        const r = await engine.compute(t);
        return { ...r, nodes: r.nodes.slice(), losses: r.losses.slice(), grad: r.grad.slice() };
      });
      chain = next.catch(() => {});
      return next;
    },
  };
}

/** A compute function that builds one honest engine for the run on first use, shared by the peers given it. */
export function lazyHonest(getRun: () => RunInfo, token: string, wsUrl: string): (t: TaskMessage, params: Float32Array) => Promise<TaskResult> {
  let e: ReturnType<typeof honestEngine> | null = null;
  return async (t, params) => {
    e ??= honestEngine(getRun(), token, wsUrl);
    return (await e).compute(t, params);
  };
}

// ---- processes ---------------------------------------------------------------------

const started = new Set<ChildProcess>();

/** Remembers a child so that `killStarted` can end it if its test fails or times out. */
export function track<T extends ChildProcess>(child: T): T {
  started.add(child);
  child.once('exit', () => started.delete(child));
  return child;
}

/** SIGKILLs every process these helpers started that is still running (afterEach / afterAll). */
export function killStarted(): void {
  for (const c of started) kill(c);
  started.clear();
}

/** `gradmesh coordinator` on a free port (or --port given later in args), tracked for clean-up. */
export async function startCoordinator(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunningCoordinator> {
  const c = await startCoordinatorProcess(args, env);
  track(c.child);
  return c;
}

/** `gradmesh ARGS` (a worker, usually), tracked for clean-up. */
export function spawnTracked(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return track(spawnCli(args, env));
}

export type { RunningCoordinator };

/** Waits for a coordinator process to end, killing it after `timeoutMs`. */
export async function finish(c: RunningCoordinator, timeoutMs = 90_000) {
  const t = setTimeout(() => c.child.kill('SIGKILL'), timeoutMs);
  const r = await c.result;
  clearTimeout(t);
  return r;
}

export function kill(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
}

export async function statusOf(base: string): Promise<{ state: string; step: number; workers: Array<{ id: string; name: string; samplesPerSec: number; state: string }> } | undefined> {
  try {
    const r = await fetch(`${base}/api/status`);
    return (await r.json()) as never;
  } catch {
    return undefined;
  }
}

export { waitFor };
