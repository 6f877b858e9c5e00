import { MessageChannel, threadId, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { ShardEngine } from '../shard-engine.js';
import { BufferPool } from '../buffer-pool.js';
import type { AddFn, TreeNode } from '../tree.js';
import { nodeAdd } from './kernels.js';
import { evenUnlessSlower, medianOf } from '@gradmesh/data';
import { microBatchCount, samplesIn } from '../microbatch.js';
import type { GradientEngine, GradResult, GradTask, RangeOptimizer } from '../task.js';
import { buildContext, type ContextSpec } from './context.js';
import type { OptimizerMessage, ServeTask } from './pool-worker.js';
import {
  ACK, BATCH, BufferRegistry, CMD_COMPUTE, CMD_FINISH, CMD_STOP, COMPUTE_US, coverOf, FHI, finishRange, FLO, MBHI, MBLO, MICRO, newLane, NIDX, OPT_T,
  OPT_VERSION, post, readError, readNodes, STATUS, STEP, UB, UPDATE, writeNodes, type Lane,
} from './pool-lanes.js';

export interface PoolEngineOptions {
  /** The most threads a step is split over (the caller and threads − 1 pool threads). */
  threads: number;
  context: ContextSpec;
  paramCount: number;
  /**
   * A step is split only into shards of at least this much predicted
   * compute (ms: the median of the caller's last 5 measured times per row,
   * times the rows; the first step, unmeasured, uses every thread): a
   * shorter shard costs more in dispatch, wake-up and merge than another
   * core saves.
   * 0 splits every step over all threads. Default: the env var
   * GRADMESH_MIN_SHARD_MS, else MIN_SHARD_MS.
   */
  minShardMs?: number;
  /**
   * Size shards by the threads' measured speeds when equal ones would be
   * clearly slower (default true); false keeps them equal (the bench's
   * control for a slower thread).
   */
  balance?: boolean;
}

/** Measured steps a participant's speed is the median of. */
const SPEED_WINDOW = 5;
/** Measurements each participant needs before the split follows speeds. */
const SPEED_MIN_SAMPLES = 3;

/** Default minShardMs: 2 ms per shard (native 784-128-10 at batch 64 takes ~0.8 ms a step; split over 2 threads it ran at 0.49–0.76× of one). */
export const MIN_SHARD_MS = 2;

/** A pool thread's session: its lane, the port its buffers come and go by, and the piscina task serving it. */
interface Session {
  lane: Lane;
  port: MessagePort;
  /** Settles when the session ends: resolves on stop, rejects if the thread died. */
  done: Promise<void>;
  /** How many registry entries it has been sent. */
  sent: number;
  /** The optimizer version it has. */
  optVersion: number;
}

/**
 * Worker-thread engine (piscina). A step's micro-batches are split into up
 * to `threads` contiguous shards: the calling thread computes the first
 * itself while `threads − 1` piscina threads compute the rest, so N threads
 * keep N cores busy without a thread more than there are cores. Steps too
 * small to pay for a second thread (shards under minShardMs of measured
 * compute) stay on the caller. Shards are equal unless the threads' measured
 * speeds differ enough to pay for an uneven cut (evenUnlessSlower, as the
 * coordinator splits between workers): a slower core then gets fewer
 * micro-batches and a smaller share of the merge.
 *
 * Each pool thread runs one long piscina task, a session, that serves a
 * lane of shared memory driven by Atomics (pool-lanes.ts): a step costs a
 * store and a wake-up per thread, not a task's message round trip.
 * Parameters live in one SharedArrayBuffer every thread reads directly
 * (written once per step, never sent). With JS or native kernels every
 * thread, the caller included, computes its gradients straight into shared
 * buffers; with WASM kernels (which need their own memory) each thread,
 * the caller included, copies its nodes into shared ones (0.25 ms for
 * 2.7 MB). Gradients never cross threads by structured cloning.
 *
 * The shards' nodes are merged by the canonical tree, so the result has
 * LocalEngine's bits. The merge is split by element range over all the
 * threads, and computeAndApply runs the optimizer on each merged chunk in
 * the same pass (its update is element-wise): a step's serial tail shrinks
 * to the slowest thread's share.
 */
export class PoolEngine implements GradientEngine {
  readonly kind = 'threads';
  readonly threads: number;
  /** The threads beside the caller (none with threads = 1). */
  private readonly pool: Piscina | null;
  /** The caller's own shard engine, built once (its kernels and dataset, as each pool thread has). */
  private readonly caller: Promise<{ engine: ShardEngine; params: Float32Array; shared: boolean }>;
  private readonly params: Float32Array;
  private readonly paramCount: number;
  private sessions: Session[] = [];
  private indicesCap = 0;
  /** Why the sessions can no longer be used (a thread died); they are rebuilt before the next step. */
  private broken: Error | null = null;
  /** Every shared gradient buffer: the caller's and the pool threads'. */
  private readonly registry: BufferRegistry;
  private readonly callerIds = new Map<Float32Array, number>();
  /** Shared copies of the caller's nodes, when its kernels keep them in their own memory (WASM). */
  private readonly callerCopies: BufferPool;
  private optimizer: { ref: RangeOptimizer; state: Float32Array; version: number } | null = null;
  private closed = false;
  private readonly minShardMs: number;
  private readonly balance: boolean;
  /**
   * Each participant's recent speeds (rows per ms, newest last, at most
   * SPEED_WINDOW): [0] the caller, measured on its own shard; [i] the pool
   * thread of lane i − 1, as it reports its compute time.
   */
  private readonly speeds: number[][];
  /** Shards the last step was split into (1: the caller alone). */
  lastShards = 0;
  /** Micro-batches per shard in the last step (the caller's first). */
  lastSplit: number[] = [];
  /** Merges nodes: SIMD when the native addon loads (the same bits as the JS loop). */
  private readonly add: AddFn = nodeAdd();

  constructor(opts: PoolEngineOptions) {
    if (!Number.isInteger(opts.threads) || opts.threads < 1) throw new TypeError('threads must be a positive integer');
    this.threads = opts.threads;
    this.speeds = Array.from({ length: opts.threads }, () => []);
    this.balance = opts.balance ?? true;
    this.paramCount = opts.paramCount;
    this.registry = new BufferRegistry(opts.paramCount);
    this.callerCopies = new BufferPool(opts.paramCount, (n) => this.callerBuffer(n));
    const envMin = process.env.GRADMESH_MIN_SHARD_MS;
    this.minShardMs = opts.minShardMs ?? (envMin !== undefined && envMin !== '' && Number(envMin) >= 0 ? Number(envMin) : MIN_SHARD_MS);
    if (!(this.minShardMs >= 0 && this.minShardMs < Infinity)) throw new TypeError(`minShardMs must be a finite number ≥ 0, got ${this.minShardMs}`);
    const paramsSab = new SharedArrayBuffer(opts.paramCount * 4);
    this.params = new Float32Array(paramsSab);
    const here = new URL(import.meta.url);
    const ts = here.pathname.endsWith('.ts');
    this.pool =
      opts.threads === 1
        ? null
        : new Piscina({
            filename: new URL(`./pool-worker.${ts ? 'ts' : 'js'}`, here).href,
            minThreads: opts.threads - 1,
            maxThreads: opts.threads - 1,
            idleTimeout: 2 ** 31 - 1,
            // Running from TypeScript source (tests, `pnpm gradmesh`): threads need the
            // same loader and export condition as the main thread. Inherited when the
            // process itself runs under tsx; given explicitly otherwise (vitest).
            ...(ts && !underTsx(process.execArgv) ? { execArgv: ['--import', 'tsx', '--conditions=@gradmesh/source'] } : {}),
            workerData: { context: opts.context, paramsSab },
          });
    this.caller = buildContext(opts.context).then((ctx) => {
      if (ctx.model.paramCount !== opts.paramCount) throw new Error(`model has ${ctx.model.paramCount} parameters, the pool was built for ${opts.paramCount}`);
      // JS and native kernels read the shared parameters and write shared gradients; WASM ones need both in their memory.
      const shared = ctx.family !== 'wasm';
      const engine = new ShardEngine(ctx.model, ctx.data, shared ? (n) => this.callerBuffer(n) : undefined);
      return { engine, params: shared ? this.params : engine.alloc(opts.paramCount), shared };
    });
    this.caller.catch(() => {}); // reported by compute()
  }

  /** The shared parameters the threads read: train in this array and setParams copies nothing. */
  get paramsBuffer(): Float32Array {
    return this.params;
  }

  setParams(_version: number, params: Float32Array): void {
    if (params.length !== this.paramCount) throw new RangeError(`setParams: ${params.length} parameters, the pool was built for ${this.paramCount}`);
    if (params !== this.params) this.params.set(params);
  }

  async compute(task: GradTask): Promise<GradResult> {
    return this.run(task);
  }

  /**
   * A whole-batch step: the gradient, and `optimizer` applied to
   * paramsBuffer, the merge and the update split by element range over the
   * threads (the optimizer's state moves into shared memory on first use).
   * The bits of compute() followed by optimizer.apply().
   */
  async computeAndApply(task: GradTask, optimizer: RangeOptimizer): Promise<{ loss: number; samples: number; computeMs: number }> {
    if (!optimizer.elementwise) throw new Error('computeAndApply: the optimizer update is not element-wise (clipNorm); use compute() and apply()');
    const r = await this.run(task, optimizer);
    return { loss: r.nodes[0]!.loss, samples: r.samples, computeMs: r.computeMs };
  }

  private async run(task: GradTask, opt?: RangeOptimizer): Promise<GradResult> {
    if (this.closed) throw new Error('thread pool is closed');
    const t0 = performance.now();
    let caller: Awaited<PoolEngine['caller']>;
    try {
      caller = await this.caller;
    } catch (err) {
      throw new Error(`step ${task.step}: setting up the calling thread's engine failed: ${(err as Error).message}`);
    }
    if (this.closed) throw new Error(`step ${task.step}: the thread pool was closed`);
    const m = microBatchCount(task.batch, task.microBatch);
    if (opt && !(task.mbLo === 0 && task.mbHi === m)) throw new RangeError(`computeAndApply takes a whole batch, got micro-batches [${task.mbLo}, ${task.mbHi}) of ${m}`);
    const count = task.mbHi - task.mbLo;
    const samples = samplesIn(task.batch, task.microBatch, task.mbLo, task.mbHi);
    const parts = this.shardsFor(count, samples);
    this.lastShards = parts;
    const lanes = parts > 1 ? (await this.sessionsFor(task.indices.length)).slice(0, parts - 1).map((s) => s.lane) : [];
    const { shards, weights } = this.splitFor(count, parts);
    this.lastSplit = shards.map((sh) => sh.count);
    const ranges: Array<[number, number]> = shards.map((sh) => [task.mbLo + sh.start, task.mbLo + sh.start + sh.count]);
    const shard = (lo: number, hi: number): GradTask => {
      const off = samplesIn(task.batch, task.microBatch, task.mbLo, lo);
      const len = samplesIn(task.batch, task.microBatch, lo, hi);
      return { step: task.step, batch: task.batch, microBatch: task.microBatch, mbLo: lo, mbHi: hi, indices: task.indices.subarray(off, off + len) };
    };
    // Shards 1.. to the pool threads first, then shard 0 here while they compute.
    const seqs = lanes.map((lane, i) => {
      const t = shard(...ranges[i + 1]!);
      this.describe(lane, t);
      lane.indices.set(t.indices);
      lane.ctrl[NIDX] = t.indices.length;
      return post(lane.ctrl, CMD_COMPUTE);
    });
    let own: TreeNode[];
    try {
      if (caller.params !== this.params) caller.params.set(this.params);
      const mine = shard(...ranges[0]!);
      const c0 = performance.now();
      own = caller.engine.compute(caller.params, mine).nodes;
      if (mine.indices.length > 0) this.measured(0, mine.indices.length / Math.max(performance.now() - c0, 1e-3));
    } catch (err) {
      // A failed step returns only once every thread has stopped: none may still be writing what the next step uses.
      await this.acked(lanes, seqs, task.step).catch(() => {});
      throw new Error(`step ${task.step}: computing on the calling thread failed: ${(err as Error).message}`);
    }
    await this.acked(lanes, seqs, task.step);
    this.throwIfFailed(lanes, task.step);
    lanes.forEach((lane, i) => {
      const rows = lane.ctrl[NIDX]!;
      const us = lane.ctrl[COMPUTE_US]!;
      if (rows > 0 && us > 0) this.measured(i + 1, rows / (us / 1000));
    });

    if (lanes.length > 0 && !caller.shared) {
      // WASM: the caller's nodes are in its own memory; one copy into shared buffers lets every thread take a share of the merge and update.
      this.callerCopies.reset();
      own = own.map((n) => {
        const g = this.callerCopies.take();
        g.set(n.grad);
        return { ...n, grad: g };
      });
    }
    const nodes: TreeNode[] = [...own];
    const ids = lanes.length > 0 ? own.map((n) => ({ lo: n.lo, hi: n.hi, loss: n.loss, id: this.callerIds.get(n.grad)! })) : [];
    lanes.forEach((lane, i) => {
      for (const n of readNodes(lane)) {
        ids.push(n);
        nodes.push({ lo: n.lo, hi: n.hi, loss: n.loss, grad: this.registry.get(n.id, this.sessions[i]!.port) });
      }
    });
    let update: ((root: Float32Array, lo: number, hi: number) => void) | undefined;
    if (opt) {
      this.adopt(opt);
      const B = task.indices.length;
      update = (root, lo, hi) => opt.applyRange(this.params, root, B, lo, hi);
    } else if (lanes.length === 0) {
      return { nodes: own, samples, computeMs: performance.now() - t0 };
    }
    // The merge (and update) by element range: every thread takes a share, in proportion to its speed when the shards are.
    const P = this.paramCount;
    let sum = 0;
    const prefix = weights.map((w) => (sum += w) - w);
    const cut = (i: number): number => (i === lanes.length + 1 ? P : Math.floor((P * prefix[i]!) / sum / 16) * 16);
    const fseqs = lanes.map((lane, i) => {
      this.forward(this.sessions[i]!);
      this.describe(lane, task);
      writeNodes(lane, ids);
      lane.ctrl[FLO] = cut(i + 1);
      lane.ctrl[FHI] = cut(i + 2);
      lane.ctrl[UPDATE] = opt ? 1 : 0;
      lane.ctrl[OPT_T] = opt ? opt.t : 0;
      lane.ctrl[UB] = task.indices.length;
      lane.ctrl[OPT_VERSION] = this.optimizer?.version ?? 0;
      return post(lane.ctrl, CMD_FINISH);
    });
    let failed: unknown;
    try {
      finishRange(m, task.mbLo, task.mbHi, nodes, 0, cut(1), this.add, update);
    } catch (err) {
      failed = err;
    }
    await this.acked(lanes, fseqs, task.step);
    if (failed !== undefined) throw new Error(`step ${task.step}: merging on the calling thread failed: ${(failed as Error).message}`);
    this.throwIfFailed(lanes, task.step);
    opt?.advance();
    return { nodes: coverOf(m, task.mbLo, task.mbHi, nodes), samples, computeMs: performance.now() - t0 };
  }

  /** A shared gradient buffer of the caller's, known to the threads by id. */
  private callerBuffer(n: number): Float32Array {
    const a = new Float32Array(new SharedArrayBuffer(n * 4));
    const id = threadId * 2 ** 20 + this.callerIds.size;
    this.callerIds.set(a, id);
    this.registry.add(id, a.buffer as SharedArrayBuffer);
    return a;
  }

  private describe(lane: Lane, t: GradTask): void {
    lane.ctrl[STEP] = t.step;
    lane.ctrl[BATCH] = t.batch;
    lane.ctrl[MICRO] = t.microBatch;
    lane.ctrl[MBLO] = t.mbLo;
    lane.ctrl[MBHI] = t.mbHi;
  }

  private throwIfFailed(lanes: Lane[], step: number): void {
    const bad = lanes.find((l) => l.ctrl[STATUS] !== 0);
    if (bad) throw new Error(`step ${step}: a worker thread failed: ${readError(bad)}`);
  }

  /** The optimizer's state in shared memory (the same values), and a new version the threads learn with their next finish. */
  private adopt(opt: RangeOptimizer): void {
    const cur = this.optimizer;
    if (cur && cur.ref === opt && cur.state === opt.state) return;
    const n = opt.state.length;
    const state = new Float32Array(new SharedArrayBuffer(Math.max(4, n * 4)), 0, n);
    state.set(opt.state);
    opt.state = state;
    this.optimizer = { ref: opt, state, version: (cur?.version ?? 0) + 1 };
  }

  /** Sends a session every buffer and the optimizer it does not have yet (read by the thread before the finish that needs them). */
  private forward(s: Session): void {
    for (const { id, sab } of this.registry.order.slice(s.sent)) s.port.postMessage({ id, sab });
    s.sent = this.registry.order.length;
    const o = this.optimizer;
    if (o && s.optVersion !== o.version) {
      const msg: OptimizerMessage = { optimizer: { version: o.version, config: o.ref.config, state: o.state.buffer as SharedArrayBuffer, length: o.state.length } };
      s.port.postMessage(msg);
      s.optVersion = o.version;
    }
  }

  /**
   * Waits for each lane to acknowledge its command: spinning for up to 1 ms
   * (the threads' shards end about when the caller's does), then in
   * Atomics.waitAsync, so the event loop runs meanwhile (V8's GC tasks, a
   * signal handler) and a thread that died — piscina rejects its session —
   * ends the wait with its error.
   */
  private async acked(lanes: Lane[], seqs: number[], step: number): Promise<void> {
    const spinUntil = performance.now() + 1;
    for (let i = 0; i < lanes.length; i++) {
      const ctrl = lanes[i]!.ctrl;
      for (;;) {
        const v = Atomics.load(ctrl, ACK);
        if (v === seqs[i]) break;
        if (this.closed) throw new Error(`step ${step}: the thread pool was closed`);
        if (this.broken) throw new Error(`step ${step}: a worker thread failed: ${this.broken.message}`);
        if (performance.now() < spinUntil) continue;
        const w = Atomics.waitAsync(ctrl, ACK, v, 50);
        if (w.async) await w.value;
      }
    }
  }

  /** The sessions, (re)started when there are none, a thread died, or a task carries more indices than a lane holds. */
  private async sessionsFor(indices: number): Promise<Session[]> {
    if (this.sessions.length > 0 && !this.broken && indices <= this.indicesCap) return this.sessions;
    await this.stopSessions();
    this.broken = null;
    this.indicesCap = 2 ** Math.ceil(Math.log2(Math.max(indices, 1024)));
    const shape = { maxNodes: 64 * this.threads, indicesCap: this.indicesCap };
    this.sessions = Array.from({ length: this.threads - 1 }, () => {
      const lane = newLane(shape);
      const { port1, port2 } = new MessageChannel();
      const msg: ServeTask = { lane: lane.sab, port: port2, ...shape };
      const s: Session = { lane, port: port1, done: this.pool!.run(msg, { transferList: [port2] }) as Promise<void>, sent: 0, optVersion: 0 };
      s.done.catch((err: Error) => {
        if (this.sessions.includes(s)) this.broken ??= err;
      });
      return s;
    });
    return this.sessions;
  }

  private async stopSessions(): Promise<void> {
    const old = this.sessions;
    this.sessions = [];
    for (const s of old) post(s.lane.ctrl, CMD_STOP);
    await Promise.allSettled(old.map((s) => s.done));
    for (const s of old) s.port.close();
  }

  /**
   * How many shards to split `rows` rows (in `count` micro-batches) into:
   * as many as there are threads, but none predicted under minShardMs.
   * Bits do not depend on it (the canonical tree), only speed does.
   */
  private shardsFor(count: number, rows: number): number {
    const most = Math.max(1, Math.min(this.threads, count));
    const mine = this.speeds[0]!;
    if (this.minShardMs === 0 || mine.length === 0) return most;
    const predicted = rows / medianOf(mine);
    return Math.max(1, Math.min(most, Math.floor(predicted / this.minShardMs)));
  }

  /**
   * Contiguous shards of `count` micro-batches over the first `parts`
   * participants: equal, unless by their measured speeds (once each has
   * SPEED_MIN_SAMPLES) equal shards would make the step more than
   * EVEN_SLACK slower — a slower core (a hybrid CPU's efficiency cores, a
   * busier vCPU) then gets fewer micro-batches, and a smaller share of the
   * merge. Everyone gets at least one, so everyone stays measured. Bits do
   * not depend on the split (the canonical tree), only speed does.
   */
  private splitFor(count: number, parts: number): { shards: Array<{ start: number; count: number }>; weights: number[] } {
    const sp = this.speeds.slice(0, parts);
    const measured = this.balance && sp.every((s) => s.length >= SPEED_MIN_SAMPLES);
    const speeds = measured ? sp.map(medianOf) : sp.map(() => 1);
    const shards = evenUnlessSlower(count, speeds, speeds.map(() => 1));
    const even = shards.every((sh) => Math.abs(sh.count - count / parts) < 1);
    return { shards, weights: even ? speeds.map(() => 1) : speeds };
  }

  private measured(who: number, rowsPerMs: number): void {
    const w = this.speeds[who]!;
    w.push(rowsPerMs);
    if (w.length > SPEED_WINDOW) w.shift();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A session busy with a long shard sees its stop only afterwards: destroy does not wait for it.
    for (const s of this.sessions) post(s.lane.ctrl, CMD_STOP);
    this.sessions = [];
    await this.pool?.destroy();
  }
}

/**
 * Whether node was started with tsx's loader (`--import tsx`, `--import=tsx/esm`,
 * a path into node_modules/tsx/): then threads inherit it. Not any argument
 * that merely contains "tsx" — vitest's own paths do (…_tsx@4…/vitest/…).
 */
export function underTsx(execArgv: readonly string[]): boolean {
  const isTsx = (v: string): boolean => /^tsx(\/|$)/.test(v) || /[\\/]node_modules[\\/]tsx[\\/]/.test(v);
  return execArgv.some((a, i) => {
    const eq = /^--(?:import|loader|experimental-loader|require)=(.*)$/.exec(a);
    if (eq) return isTsx(eq[1]!);
    return ['--import', '--loader', '--experimental-loader', '--require', '-r'].includes(execArgv[i - 1] ?? '') && isTsx(a);
  });
}
