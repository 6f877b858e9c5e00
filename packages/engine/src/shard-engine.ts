import { buildCover, type TreeNode } from './tree.js';
import { BufferPool } from './buffer-pool.js';
import { microBatchCount, microBatchSpan, samplesIn } from './microbatch.js';
import type { GradTask } from './task.js';

/** What the shard engine needs of a model: loss and gradient SUMS over n rows. */
export interface GradModel {
  readonly paramCount: number;
  readonly inputs: number;
  readonly outputs: number;
  /** Where buffers should live so the model's kernels use them without copying (WASM memory). */
  readonly kernels?: { alloc(length: number): Float32Array };
  lossAndGrad(params: Float32Array, x: Float32Array, y: Float32Array, n: number, grad: Float32Array): number;
}

export interface Rows {
  n: number;
  x: Float32Array;
  y: Float32Array;
}

/**
 * Computes a task in the calling thread: every micro-batch of the task is
 * gathered into a contiguous buffer, its gradient sum computed by the model,
 * and the micro-batch gradients combined by the canonical tree.
 */
export class ShardEngine {
  private readonly pool: BufferPool;
  private xb: Float32Array = new Float32Array(0);
  private yb: Float32Array = new Float32Array(0);

  constructor(
    readonly model: GradModel,
    readonly data: Rows,
  ) {
    this.alloc = model.kernels ? (n) => model.kernels!.alloc(n) : (n) => new Float32Array(n);
    this.pool = new BufferPool(model.paramCount, this.alloc);
  }

  /** Allocates where the model's kernels work in place. */
  readonly alloc: (n: number) => Float32Array;

  compute(params: Float32Array, task: GradTask): { nodes: TreeNode[]; samples: number } {
    const { batch, microBatch, mbLo, mbHi, indices } = task;
    const m = microBatchCount(batch, microBatch);
    const samples = samplesIn(batch, microBatch, mbLo, mbHi);
    if (indices.length !== samples) {
      throw new RangeError(`task for micro-batches [${mbLo}, ${mbHi}) carries ${indices.length} indices, expected ${samples}`);
    }
    const { inputs, outputs } = this.model;
    if (this.xb.length < microBatch * inputs) {
      this.xb = this.alloc(microBatch * inputs);
      this.yb = this.alloc(microBatch * outputs);
    }
    this.pool.reset();
    const base = mbLo * microBatch;
    const nodes = buildCover(
      m,
      mbLo,
      mbHi,
      (j) => {
        const [s, e] = microBatchSpan(batch, microBatch, j);
        const n = e - s;
        for (let r = 0; r < n; r++) {
          const idx = indices[s - base + r]!;
          if (idx >= this.data.n) throw new RangeError(`sample index ${idx} is out of range (dataset has ${this.data.n})`);
          this.xb.set(this.data.x.subarray(idx * inputs, idx * inputs + inputs), r * inputs);
          this.yb.set(this.data.y.subarray(idx * outputs, idx * outputs + outputs), r * outputs);
        }
        const grad = this.pool.take();
        const loss = this.model.lossAndGrad(params, this.xb, this.yb, n, grad);
        return { loss, grad };
      },
      (g) => this.pool.give(g),
    );
    return { nodes, samples };
  }
}
