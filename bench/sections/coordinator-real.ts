/**
 * Real distributed runs on loopback, compared side by side. Each runner is a
 * Coordinator + CoordinatorServer (the classes `gradmesh coordinator` uses)
 * in this process with its own worker processes started by the CLI
 * (`gradmesh worker --threads 1`). All runners are started together and then
 * take turns, a block of steps each in rotating order, while the others sit
 * paused between two steps (their workers idle): the configurations being
 * compared see the same machine load, which on a shared machine matters more
 * than anything else.
 *
 * Per-step times are wall-clock times between step reports within a block;
 * bytes on the wire are read off the server's TCP sockets (payloads plus
 * WebSocket framing, both directions). Unlike `gradmesh coordinator`, nothing
 * else happens between steps (no test evaluation, metrics file or dashboard).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { createModel, Optimizer, Rng, type ModelSpec } from '@gradmesh/core';
import { updateKernels } from '@gradmesh/engine/node';
import { batchIndices } from '@gradmesh/data';
import type { Compression } from '@gradmesh/protocol';
import { loadDataset } from '@gradmesh/data/node';
import { Coordinator, type StepReport } from '../../apps/coordinator/src/coordinator/coordinator.js';
import { CoordinatorServer } from '../../apps/coordinator/src/coordinator/server.js';
import { maxFrameBytes } from '../../apps/coordinator/src/coordinator/limits.js';
import { BENCH, REPO } from '../lib/paths.js';
import { stopChildren } from '../../apps/coordinator/src/children.js';
import { median } from '../lib/stats.js';

const CLI = join(REPO, 'apps', 'coordinator', 'src', 'main.ts');

export interface BlockRecord {
  wallMs: number[];
  reports: StepReport[];
  bytesOut: number;
  bytesIn: number;
}

/** Something that runs steps in blocks on request and stays paused in between. */
export interface Runner {
  readonly label: string;
  start(): Promise<void>;
  block(steps: number): Promise<BlockRecord>;
  close(): Promise<void>;
}

export interface CoordRunOptions {
  label: string;
  dataset: string;
  spec: ModelSpec;
  batch: number;
  microBatch: number;
  workers: number;
  /** RunInfo.kernels: the kernel family every worker computes with (workers that predate kernel choice use js). */
  kernels?: string;
  /** RunInfo.compress: parameters and gradients on the wire as fp16 or int8 (default float32). */
  compress?: Compression;
}

function spawnLogged(args: string[], onExit: (why: string) => void): ChildProcess {
  let stderr = '';
  const child = spawn(process.execPath, [...process.execArgv, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  child.once('exit', (code, signal) => onExit(`exited (${signal ?? code})${stderr.trim() ? `: ${errorLine(stderr)}` : ''}`));
  return child;
}

/** The line of a crashed Node process's stderr that says what went wrong (not the trailing "Node.js v20…"). */
function errorLine(stderr: string): string {
  const lines = stderr.trim().split('\n').map((l) => l.trim()).filter((l) => l && !/^Node\.js v/.test(l) && !/^at /.test(l));
  return [...lines].reverse().find((l) => /error/i.test(l)) ?? lines.at(-1) ?? '';
}

function socketBytes(sockets: Set<Socket>): { r: number; w: number } {
  let r = 0;
  let w = 0;
  for (const s of sockets) {
    r += s.bytesRead;
    w += s.bytesWritten;
  }
  return { r, w };
}

/** A coordinator with k worker processes; its step loop pauses inside the step callback between blocks. */
export class CoordRunner implements Runner {
  readonly label: string;
  paramCount = 0;
  private coord!: Coordinator;
  private server!: CoordinatorServer;
  private readonly sockets = new Set<Socket>();
  private readonly children: ChildProcess[] = [];
  private allowance = 1; // steps that may still start in this block; the first runs as part of start()
  private want = 1; // steps the current block records
  private resume: (() => void) | null = null;
  private blockDone: (() => void) | null = null;
  private failed: ((err: Error) => void) | null = null;
  private failure: Error | null = null;
  private rec: BlockRecord = { wallMs: [], reports: [], bytesOut: 0, bytesIn: 0 };
  private last = 0;
  private runLoop: Promise<void> | null = null;
  private closing = false;

  constructor(readonly o: CoordRunOptions) {
    this.label = o.label;
  }

  async start(): Promise<void> {
    const o = this.o;
    const ds = await loadDataset(o.dataset);
    const model = createModel(o.spec);
    this.paramCount = model.paramCount;
    const params = new Float32Array(model.paramCount);
    model.initParams(params, new Rng(1));
    const token = randomBytes(9).toString('base64url');
    this.coord = new Coordinator({
      run: {
        runId: randomBytes(6).toString('hex'),
        dataset: o.dataset,
        datasetUrl: null, // workers load the dataset by name
        spec: o.spec as unknown as Record<string, unknown>,
        paramCount: model.paramCount,
        batch: o.batch,
        microBatch: o.microBatch,
        seed: 1,
        ...(o.kernels ? { kernels: o.kernels } : {}),
        ...(o.compress && o.compress !== 'none' ? { compress: o.compress } : {}),
      },
      params,
      // As `gradmesh coordinator` builds it: the fastest axpy for the update.
      optimizer: new Optimizer({ kind: 'sgd', lr: 0.01 }, model.paramCount, updateKernels(model.kernels)),
      plan: (t) => batchIndices(ds.train.n, o.batch, 1, t),
      startStep: 0,
      totalSteps: Number.MAX_SAFE_INTEGER,
      minWorkers: o.workers,
      // Pauses and noise on a shared machine must not trigger straggler reassignment.
      deadlineFloorMs: 600_000,
      workerTimeoutMs: 600_000,
    });
    this.server = new CoordinatorServer(this.coord, { host: '127.0.0.1', port: 0, token, maxPayload: maxFrameBytes(model.paramCount, o.batch, o.microBatch) });
    this.server.http.on('connection', (s: Socket) => this.sockets.add(s));
    const wsUrl = `${(await this.server.listen()).replace(/^http/, 'ws')}/ws`;
    for (let i = 0; i < o.workers; i++) {
      this.children.push(
        // --token=…: a base64url token may start with '-', which would read as a flag.
        spawnLogged([CLI, 'worker', '--url', wsUrl, `--token=${token}`, '--threads', '1', '--name', `bench-${i + 1}`, '--quiet'], (why) => {
          if (!this.closing) this.fail(new Error(`${this.label}: worker ${i + 1} ${why}`));
        }),
      );
    }
    const first = new Promise<void>((res, rej) => {
      this.blockDone = res;
      this.failed = rej;
    });
    this.runLoop = this.coord.run((r) => this.onStep(r), () => this.beforeStep()).catch((err: Error) => this.fail(err));
    await first;
  }

  private fail(err: Error): void {
    this.failure ??= err;
    const f = this.failed;
    this.failed = null;
    f?.(err);
  }

  private onStep(r: StepReport): void {
    const now = performance.now();
    this.rec.wallMs.push(now - this.last);
    this.rec.reports.push(r);
    this.last = now;
    if (this.rec.reports.length < this.want) return;
    const done = this.blockDone;
    this.blockDone = null;
    this.failed = null;
    done?.();
  }

  /** The coordinator asks before each step's tasks go out: between blocks it waits here, workers idle. */
  private async beforeStep(): Promise<void> {
    if (this.allowance === 0) await new Promise<void>((res) => (this.resume = res));
    this.allowance--;
  }

  block(steps: number): Promise<BlockRecord> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<BlockRecord>((res, rej) => {
      const b0 = socketBytes(this.sockets);
      this.rec = { wallMs: [], reports: [], bytesOut: 0, bytesIn: 0 };
      this.allowance = steps;
      this.want = steps;
      this.failed = rej;
      this.blockDone = () => {
        const b1 = socketBytes(this.sockets);
        res({ ...this.rec, bytesOut: b1.w - b0.w, bytesIn: b1.r - b0.r });
      };
      this.last = performance.now();
      const go = this.resume;
      this.resume = null;
      go?.();
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    if (!this.coord) return;
    this.coord.stop();
    this.resume?.();
    await this.runLoop?.catch(() => {});
    this.coord.finish('benchmark finished');
    await stopChildren(this.children);
    await this.server.close();
  }
}

/**
 * The transport floor of a step, without gradmesh: this process sends each of
 * k Node processes a params-sized and a task-sized frame (as the coordinator
 * sends parameters and a task) and waits for a gradient-sized reply from each
 * (masked as a worker masks) — the fan-out/fan-in of a step with nothing
 * computed, encoded or validated.
 */
export class EchoRunner implements Runner {
  readonly label: string;
  private wss: any;
  private readonly clients: any[] = [];
  private readonly children: ChildProcess[] = [];
  private readonly sockets = new Set<Socket>();
  private closing = false;
  private failure: Error | null = null;

  /** `bytes`: the params frame and the reply (default: the small frames of the xor model). */
  constructor(
    readonly workers: number,
    readonly bytes?: number,
  ) {
    this.label = `ws echo, ${workers} process${workers > 1 ? 'es' : ''}${bytes ? `, ${(bytes / 2 ** 20).toFixed(2)} MiB each way` : ''} (transport floor)`;
  }

  async start(): Promise<void> {
    const req = createRequire(join(REPO, 'apps', 'coordinator', 'package.json'));
    const { WebSocketServer } = req('ws') as { WebSocketServer: new (o: object) => any };
    this.wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
    await new Promise<void>((res) => this.wss.once('listening', res));
    this.wss.on('connection', (ws: any, request: { socket: Socket }) => {
      this.sockets.add(request.socket);
      this.clients.push(ws);
    });
    const url = `ws://127.0.0.1:${this.wss.address().port}`;
    for (let i = 0; i < this.workers; i++) {
      this.children.push(
        spawnLogged([join(BENCH, 'lib', 'ws-echo-client.mjs'), url, join(REPO, 'apps', 'worker', 'package.json'), String(this.bytes ?? 96)], (why) => {
          if (!this.closing) this.failure ??= new Error(`echo client ${why}`);
        }),
      );
    }
    const t0 = performance.now();
    while (this.clients.length < this.workers) {
      if (this.failure) throw this.failure;
      if (performance.now() - t0 > 60_000) throw new Error('echo clients did not connect within 60 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async block(steps: number): Promise<BlockRecord> {
    if (this.failure) throw this.failure;
    const b0 = socketBytes(this.sockets);
    const params = Buffer.alloc(this.bytes ?? 128, 1);
    const task = Buffer.alloc(64, 2);
    const wallMs: number[] = [];
    for (let s = 0; s < steps; s++) {
      const t0 = performance.now();
      await Promise.all(
        this.clients.map(
          (ws) =>
            new Promise<void>((res) => {
              ws.once('message', () => res());
              // One write for both, as the coordinator's handle corks a step's params and task.
              ws._socket.cork();
              ws.send(params);
              ws.send(task);
              ws._socket.uncork();
            }),
        ),
      );
      wallMs.push(performance.now() - t0);
    }
    const b1 = socketBytes(this.sockets);
    return { wallMs, reports: [], bytesOut: b1.w - b0.w, bytesIn: b1.r - b0.r };
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const ws of this.clients) ws.close();
    await stopChildren(this.children);
    await new Promise<void>((res) => this.wss?.close(() => res()) ?? res());
  }
}

export interface RunnerResult {
  label: string;
  ok: boolean;
  error?: string;
  blocks: BlockRecord[];
  /** The block of `coldSteps` run right after start, before the warm-up (when asked for). */
  cold?: BlockRecord;
}

/**
 * A block's steps after its first. The first step after a pause starts
 * worker processes that sat idle while the other runners took their turn
 * (cold caches, sleeping cores) — a cost no real run pays between steps —
 * so it is left out of step statistics when the block has more.
 */
function steady<T>(xs: T[]): T[] {
  return xs.length > 1 ? xs.slice(1) : xs;
}

/** Median wall time of a step over every block (steady steps, see `steady`). */
export function stepMs(r: RunnerResult): number {
  return median(r.blocks.flatMap((b) => steady(b.wallMs)));
}

/** Every block's step reports (steady steps, see `steady`). */
export function steadyReports(r: RunnerResult): StepReport[] {
  return r.blocks.flatMap((b) => steady(b.reports));
}

/** Median over blocks of a block total (bytes, say) divided by the block's steps. */
export function perStep(r: RunnerResult, f: (b: BlockRecord) => number): number {
  return median(r.blocks.map((b) => f(b) / b.wallMs.length));
}

/**
 * Starts every runner, runs one warm-up block each, then `runs` rounds of one
 * block each in rotating order. With `coldSteps`, each runner first runs a
 * block of that many steps, kept as `cold`: how the run goes before V8 has
 * optimized the per-step code (on xor a step costs 2–4× more for its first
 * thousand steps, the bare ws echo too).
 */
export async function compareRunners(
  runners: Runner[],
  o: { warmupSteps: number; steps: number; runs: number; coldSteps?: number; log: (l: string) => void },
): Promise<RunnerResult[]> {
  const res: RunnerResult[] = runners.map((r) => ({ label: r.label, ok: true, blocks: [] as BlockRecord[] }));
  const live = new Set<number>();
  try {
    await Promise.all(
      runners.map(async (r, i) => {
        try {
          await r.start();
          live.add(i);
        } catch (err) {
          res[i]!.ok = false;
          res[i]!.error = (err as Error).message;
          o.log(`  ${r.label}: failed to start: ${(err as Error).message}`);
        }
      }),
    );
    // Round -2: the cold block (if asked for); -1: the warm-up; then the timed rounds.
    for (let round = o.coldSteps ? -2 : -1; round < o.runs; round++) {
      const order = runners.map((_, i) => i).filter((i) => live.has(i));
      const rot = Math.max(0, round) % Math.max(1, order.length);
      for (const i of [...order.slice(rot), ...order.slice(0, rot)]) {
        try {
          const b = await runners[i]!.block(round === -2 ? o.coldSteps! : round === -1 ? o.warmupSteps : o.steps);
          if (round === -2) res[i]!.cold = b;
          if (round >= 0) res[i]!.blocks.push(b);
        } catch (err) {
          res[i]!.ok = false;
          res[i]!.error = (err as Error).message;
          live.delete(i);
          o.log(`  ${runners[i]!.label}: failed: ${(err as Error).message}`);
        }
      }
    }
  } finally {
    await Promise.all(runners.map((r) => r.close().catch(() => {})));
  }
  return res;
}
