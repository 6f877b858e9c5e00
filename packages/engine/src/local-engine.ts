import type { GradientEngine, GradResult, GradTask } from './task.js';
import { ShardEngine, type GradModel, type Rows } from './shard-engine.js';

/** The single-thread engine: the reference every other engine must match bit for bit. */
export class LocalEngine implements GradientEngine {
  readonly kind = 'local';
  readonly threads = 1;
  private readonly shard: ShardEngine;
  private params: Float32Array;

  constructor(model: GradModel, data: Rows) {
    this.shard = new ShardEngine(model, data);
    // In the kernels' own memory: copied in once per step, not once per micro-batch.
    this.params = this.shard.alloc(model.paramCount);
  }

  setParams(_version: number, params: Float32Array): void {
    this.params.set(params);
  }

  async compute(task: GradTask): Promise<GradResult> {
    const t0 = performance.now();
    const r = this.shard.compute(this.params, task);
    return { ...r, computeMs: performance.now() - t0 };
  }

  async close(): Promise<void> {}
}
