import { Piscina } from 'piscina';
import { ShardEngine } from '../shard-engine.js';
import { reduceNodes, treeDepth, type AddFn, type TreeNode } from '../tree.js';
import { nodeAdd } from './kernels.js';
import { microBatchCount, samplesIn } from '../microbatch.js';
import type { GradientEngine, GradResult, GradTask } from '../task.js';
import { buildContext, type ContextSpec } from './context.js';
import type { PoolTask, PoolReply } from './pool-worker.js';

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
}

/** Default minShardMs: 2 ms per shard (native 784-128-10 at batch 64 takes ~0.8 ms a step; split over 2 threads it ran at 0.49–0.76× of one). */
export const MIN_SHARD_MS = 2;

/**
 * Worker-thread engine (piscina). A step's micro-batches are split into up
 * to `threads` contiguous shards: the calling thread computes the first
 * itself while `threads − 1` piscina threads compute the rest, so N threads
 * keep N cores busy without a thread more than there are cores — on a
 * 2-core machine a third runnable thread (the caller, dispatching and
 * waiting) delays the last shard's start and the caller's wake-up by about
 * half a millisecond each per step. Steps too small to pay for that
 * (shards under minShardMs of measured compute) stay on the caller.
 *
 * Parameters live in one SharedArrayBuffer every thread reads directly
 * (written once per step, never sent). With JS or native kernels each pool
 * thread computes its gradients straight into shared buffers the caller
 * reads in place; with WASM kernels (which need their own memory) it copies
 * its tree nodes into a shared output slot. Either way gradients cross
 * threads without structured cloning. The shards' nodes are merged with the
 * canonical tree, so the result has the same bits as LocalEngine.
 */
export class PoolEngine implements GradientEngine {
  readonly kind = 'threads';
  readonly threads: number;
  /** The threads beside the caller (none with threads = 1). */
  private readonly pool: Piscina | null;
  /** The caller's own shard engine, built once (its kernels and dataset, as each pool thread has). */
  private readonly caller: Promise<{ engine: ShardEngine; params: Float32Array }>;
  private readonly params: Float32Array;
  private readonly paramCount: number;
  private slots: SharedArrayBuffer[] = [];
  private slotNodes = 0;
  private closed = false;
  private readonly minShardMs: number;
  /** The caller's recent compute times per row (ms), measured on its own shard. */
  private msPerRow: number[] = [];
  /** Shards the last step was split into (1: the caller alone). */
  lastShards = 0;
  /** Merges the threads' nodes: SIMD when the native addon loads (the same bits as the JS loop). */
  private readonly add: AddFn = nodeAdd();

  constructor(opts: PoolEngineOptions) {
    if (!Number.isInteger(opts.threads) || opts.threads < 1) throw new TypeError('threads must be a positive integer');
    this.threads = opts.threads;
    this.paramCount = opts.paramCount;
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
      const engine = new ShardEngine(ctx.model, ctx.data);
      // JS and native kernels read the shared parameters; WASM ones need a copy in their memory.
      return { engine, params: ctx.family === 'wasm' ? engine.alloc(opts.paramCount) : this.params };
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
    if (this.closed) throw new Error('thread pool is closed');
    const t0 = performance.now();
    let caller: Awaited<PoolEngine['caller']>;
    try {
      caller = await this.caller;
    } catch (err) {
      throw new Error(`step ${task.step}: setting up the calling thread's engine failed: ${(err as Error).message}`);
    }
    const m = microBatchCount(task.batch, task.microBatch);
    const count = task.mbHi - task.mbLo;
    const parts = this.shardsFor(count, samplesIn(task.batch, task.microBatch, task.mbLo, task.mbHi));
    this.lastShards = parts;
    const need = 2 * treeDepth(m) + 1;
    if (need > this.slotNodes || this.slots.length < parts - 1) {
      this.slotNodes = Math.max(need, this.slotNodes);
      this.slots = Array.from({ length: this.threads - 1 }, () => new SharedArrayBuffer(this.slotNodes * this.paramCount * 4));
    }
    const ranges: Array<[number, number]> = [];
    for (let p = 0; p < parts; p++) ranges.push([task.mbLo + Math.floor((count * p) / parts), task.mbLo + Math.floor((count * (p + 1)) / parts)]);
    const shard = (lo: number, hi: number): GradTask => {
      const off = samplesIn(task.batch, task.microBatch, task.mbLo, lo);
      const len = samplesIn(task.batch, task.microBatch, lo, hi);
      return { step: task.step, batch: task.batch, microBatch: task.microBatch, mbLo: lo, mbHi: hi, indices: task.indices.subarray(off, off + len) };
    };
    // Shards 1.. to the pool first, then shard 0 here while they compute.
    const jobs: Promise<PoolReply>[] = [];
    for (let p = 1; p < parts; p++) {
      const t = shard(...ranges[p]!);
      const msg: PoolTask = { ...t, indices: t.indices.slice(), out: this.slots[p - 1]! };
      jobs.push(this.pool!.run(msg) as Promise<PoolReply>);
    }
    const replies = Promise.all(jobs);
    replies.catch(() => {}); // awaited below, after the caller's shard (which may throw first)
    // A failed step returns only once every thread has stopped: a thread still writing its
    // output slot must not overlap the next step's use of it.
    const settled = (): Promise<unknown> => Promise.allSettled(jobs);
    let own: TreeNode[];
    try {
      if (caller.params !== this.params) caller.params.set(this.params);
      const mine = shard(...ranges[0]!);
      const c0 = performance.now();
      own = caller.engine.compute(caller.params, mine).nodes;
      if (mine.indices.length > 0) this.measured((performance.now() - c0) / mine.indices.length);
    } catch (err) {
      await settled();
      throw new Error(`step ${task.step}: computing on the calling thread failed: ${(err as Error).message}`);
    }
    let done: PoolReply[];
    try {
      done = await replies;
    } catch (err) {
      await settled();
      throw new Error(`step ${task.step}: a worker thread failed: ${(err as Error).message}`);
    }
    const nodes: TreeNode[] = [...own];
    done.forEach((r, i) => {
      r.nodes.forEach((n, j) => {
        const grad = n.buf ? new Float32Array(n.buf, n.offset, this.paramCount) : new Float32Array(this.slots[i]!, j * this.paramCount * 4, this.paramCount);
        nodes.push({ lo: n.lo, hi: n.hi, loss: n.loss, grad });
      });
    });
    const merged = reduceNodes(m, task.mbLo, task.mbHi, nodes, this.add);
    return { nodes: merged, samples: samplesIn(task.batch, task.microBatch, task.mbLo, task.mbHi), computeMs: performance.now() - t0 };
  }

  /**
   * How many shards to split `rows` rows (in `count` micro-batches) into:
   * as many as there are threads, but none predicted under minShardMs.
   * Bits do not depend on it (the canonical tree), only speed does.
   */
  private shardsFor(count: number, rows: number): number {
    const most = Math.max(1, Math.min(this.threads, count));
    if (this.minShardMs === 0 || this.msPerRow.length === 0) return most;
    const sorted = [...this.msPerRow].sort((a, b) => a - b);
    const predicted = sorted[sorted.length >> 1]! * rows;
    return Math.max(1, Math.min(most, Math.floor(predicted / this.minShardMs)));
  }

  private measured(msPerRow: number): void {
    this.msPerRow.push(msPerRow);
    if (this.msPerRow.length > 5) this.msPerRow.shift();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
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
