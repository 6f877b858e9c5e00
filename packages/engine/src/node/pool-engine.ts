import { Piscina } from 'piscina';
import { reduceNodes, treeDepth, type AddFn, type TreeNode } from '../tree.js';
import { nodeAdd } from './kernels.js';
import { microBatchCount, samplesIn } from '../microbatch.js';
import type { GradientEngine, GradResult, GradTask } from '../task.js';
import type { ContextSpec } from './context.js';
import type { PoolTask, PoolReply } from './pool-worker.js';

export interface PoolEngineOptions {
  threads: number;
  context: ContextSpec;
  paramCount: number;
}

/**
 * Worker-thread engine (piscina). Parameters live in one SharedArrayBuffer the
 * threads read directly (written once per step, never sent). With JS or
 * native kernels each thread computes its gradients straight into shared
 * buffers the main thread reads in place; with WASM kernels (which need
 * their own memory) each thread copies its tree nodes into a shared output
 * slot. Either way gradients cross threads without structured cloning. The threads' nodes are merged with the
 * canonical tree, so the result has the same bits as LocalEngine.
 */
export class PoolEngine implements GradientEngine {
  readonly kind = 'threads';
  readonly threads: number;
  private readonly pool: Piscina;
  private readonly params: Float32Array;
  private readonly paramCount: number;
  private slots: SharedArrayBuffer[] = [];
  private slotNodes = 0;
  private closed = false;
  /** Merges the threads' nodes: SIMD when the native addon loads (the same bits as the JS loop). */
  private readonly add: AddFn = nodeAdd();

  constructor(opts: PoolEngineOptions) {
    if (!Number.isInteger(opts.threads) || opts.threads < 1) throw new TypeError('threads must be a positive integer');
    this.threads = opts.threads;
    this.paramCount = opts.paramCount;
    const paramsSab = new SharedArrayBuffer(opts.paramCount * 4);
    this.params = new Float32Array(paramsSab);
    const here = new URL(import.meta.url);
    const ts = here.pathname.endsWith('.ts');
    this.pool = new Piscina({
      filename: new URL(`./pool-worker.${ts ? 'ts' : 'js'}`, here).href,
      minThreads: opts.threads,
      maxThreads: opts.threads,
      idleTimeout: 2 ** 31 - 1,
      // Running from TypeScript source (tests, `pnpm gradmesh`): threads need the
      // same loader and export condition as the main thread. Inherited when the
      // process itself runs under tsx; given explicitly otherwise (vitest).
      ...(ts && !process.execArgv.some((a) => a.includes('tsx')) ? { execArgv: ['--import', 'tsx', '--conditions=@gradmesh/source'] } : {}),
      workerData: { context: opts.context, paramsSab },
    });
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
    const m = microBatchCount(task.batch, task.microBatch);
    const count = task.mbHi - task.mbLo;
    const parts = Math.max(1, Math.min(this.threads, count));
    const need = 2 * treeDepth(m) + 1;
    if (need > this.slotNodes || this.slots.length < parts) {
      this.slotNodes = Math.max(need, this.slotNodes);
      this.slots = Array.from({ length: this.threads }, () => new SharedArrayBuffer(this.slotNodes * this.paramCount * 4));
    }
    const jobs: Promise<PoolReply>[] = [];
    const ranges: Array<[number, number]> = [];
    for (let p = 0; p < parts; p++) {
      const lo = task.mbLo + Math.floor((count * p) / parts);
      const hi = task.mbLo + Math.floor((count * (p + 1)) / parts);
      ranges.push([lo, hi]);
      const off = samplesIn(task.batch, task.microBatch, task.mbLo, lo);
      const len = samplesIn(task.batch, task.microBatch, lo, hi);
      const msg: PoolTask = {
        step: task.step,
        batch: task.batch,
        microBatch: task.microBatch,
        mbLo: lo,
        mbHi: hi,
        indices: task.indices.slice(off, off + len),
        out: this.slots[p]!,
      };
      jobs.push(this.pool.run(msg) as Promise<PoolReply>);
    }
    let replies: PoolReply[];
    try {
      replies = await Promise.all(jobs);
    } catch (err) {
      throw new Error(`step ${task.step}: a worker thread failed: ${(err as Error).message}`);
    }
    const nodes: TreeNode[] = [];
    replies.forEach((r, p) => {
      r.nodes.forEach((n, i) => {
        const grad = n.buf ? new Float32Array(n.buf, n.offset, this.paramCount) : new Float32Array(this.slots[p]!, i * this.paramCount * 4, this.paramCount);
        nodes.push({ lo: n.lo, hi: n.hi, loss: n.loss, grad });
      });
    });
    const merged = reduceNodes(m, task.mbLo, task.mbHi, nodes, this.add);
    return { nodes: merged, samples: samplesIn(task.batch, task.microBatch, task.mbLo, task.mbHi), computeMs: performance.now() - t0 };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.destroy();
  }
}
