import { runPlanScalar, type BlockPlan } from '@gradmesh/core';
import { coverPlan, kernelAdd, reduceNodes, type AddFn, type TreeNode } from './tree.js';
import { BufferPool } from './buffer-pool.js';
import { microBatchCount, microBatchSpan, samplesIn } from './microbatch.js';
import type { GradTask } from './task.js';

/** What the shard engine needs of a model: loss and gradient SUMS over rows, per block of rows. */
export interface GradModel {
  readonly paramCount: number;
  readonly inputs: number;
  readonly outputs: number;
  /**
   * Where buffers should live so the model's kernels use them without copying
   * (WASM memory), and the SIMD axpy the reduction tree adds with.
   */
  readonly kernels?: {
    alloc(length: number): Float32Array;
    axpy?(length: number, alpha: number, x: Float32Array, y: Float32Array): void;
  };
  /** Gradients of blocks of rows combined by a plan; losses[j] ← block j's loss sum (see Model.lossAndGradBlocks). */
  lossAndGradBlocks(params: Float32Array, x: Float32Array, y: Float32Array, n: number, block: number, plan: BlockPlan, outs: Float32Array[], losses: Float64Array): void;
}

export interface Rows {
  n: number;
  x: Float32Array;
  y: Float32Array;
}

/** Memory a chunk's gradient buffers may take (one per canonical node of the chunk). */
const CHUNK_BYTES = 64 * 2 ** 20;
/** Rows per chunk beyond which larger matrix products gain little. */
const CHUNK_ROWS = 256;

/**
 * Computes a task in the calling thread. The task's micro-batches are taken
 * a chunk at a time (aligned runs of a power-of-two count, up to ~256 rows):
 * the chunk's rows are gathered into one contiguous buffer and the model
 * computes them in one pass, combining the micro-batch gradients inside the
 * chunk by the canonical tree's additions (a block plan: fused into the
 * weight-gradient kernel where the kernel set has one). Chunks' nodes are
 * then merged by the same tree, with the kernels' SIMD add.
 */
export class ShardEngine {
  private readonly pool: BufferPool;
  private readonly add: AddFn;
  private xb: Float32Array = new Float32Array(0);
  private yb: Float32Array = new Float32Array(0);
  private losses = new Float64Array(0);
  private readonly plans = new Map<string, ReturnType<typeof coverPlan>>();

  /**
   * `gradAlloc` places the gradient buffers (default: where the kernels work,
   * see alloc); a thread pool passes SharedArrayBuffer-backed ones so its
   * results reach the main thread without a copy.
   */
  constructor(
    readonly model: GradModel,
    readonly data: Rows,
    gradAlloc?: (n: number) => Float32Array,
  ) {
    this.alloc = model.kernels ? (n) => model.kernels!.alloc(n) : (n) => new Float32Array(n);
    this.pool = new BufferPool(model.paramCount, gradAlloc ?? this.alloc);
    this.add = kernelAdd(model.kernels);
  }

  /** Allocates where the model's kernels work in place. */
  readonly alloc: (n: number) => Float32Array;

  /** Micro-batches per chunk: a power of two, so aligned chunks are canonical subtrees. */
  chunkOf(microBatch: number): number {
    let c = 1;
    while (2 * c * microBatch <= CHUNK_ROWS) c *= 2;
    return c;
  }

  compute(params: Float32Array, task: GradTask): { nodes: TreeNode[]; samples: number } {
    const { batch, microBatch, mbLo, mbHi, indices } = task;
    const m = microBatchCount(batch, microBatch);
    const samples = samplesIn(batch, microBatch, mbLo, mbHi);
    if (indices.length !== samples) {
      throw new RangeError(`task for micro-batches [${mbLo}, ${mbHi}) carries ${indices.length} indices, expected ${samples}`);
    }
    const { inputs, outputs } = this.model;
    const chunk = this.chunkOf(microBatch);
    if (this.xb.length < chunk * microBatch * inputs) {
      this.xb = this.alloc(chunk * microBatch * inputs);
      this.yb = this.alloc(chunk * microBatch * outputs);
    }
    if (this.losses.length < chunk) this.losses = new Float64Array(chunk);
    this.pool.reset();
    const base = mbLo * microBatch;
    const nodes: TreeNode[] = [];
    for (let lo = mbLo; lo < mbHi; ) {
      const hi = Math.min(mbHi, (Math.floor(lo / chunk) + 1) * chunk);
      const s0 = microBatchSpan(batch, microBatch, lo)[0];
      const n = microBatchSpan(batch, microBatch, hi - 1)[1] - s0;
      for (let r = 0; r < n; r++) {
        const idx = indices[s0 - base + r]!;
        if (idx >= this.data.n) throw new RangeError(`sample index ${idx} is out of range (dataset has ${this.data.n})`);
        this.xb.set(this.data.x.subarray(idx * inputs, idx * inputs + inputs), r * inputs);
        this.yb.set(this.data.y.subarray(idx * outputs, idx * outputs + outputs), r * outputs);
      }
      const { plan, ranges } = this.planFor(m, lo, hi);
      const outs = ranges.map(() => this.pool.take());
      this.model.lossAndGradBlocks(params, this.xb, this.yb, n, microBatch, plan, outs, this.losses);
      const losses = runPlanScalar(plan, this.losses);
      ranges.forEach(([a, b], i) => nodes.push({ lo: a, hi: b, loss: losses[i]!, grad: outs[i]! }));
      lo = hi;
    }
    return { nodes: reduceNodes(m, mbLo, mbHi, nodes, this.add), samples };
  }

  private planFor(m: number, lo: number, hi: number): ReturnType<typeof coverPlan> {
    const key = `${m}:${lo}:${hi}`;
    let p = this.plans.get(key);
    if (!p) {
      if (this.plans.size > 256) this.plans.clear();
      p = coverPlan(m, lo, hi);
      this.plans.set(key, p);
    }
    return p;
  }
}
