import { reduceNodes } from './tree.js';
import { microBatchCount } from './microbatch.js';
import type { GradientEngine, RangeOptimizer } from './task.js';

/** What the trainer needs of an optimizer: one update from a gradient SUM over `batch` samples. */
export interface StepOptimizer {
  apply(params: Float32Array, gradSum: Float32Array, batch: number): void;
}

function splittable(o: StepOptimizer): o is StepOptimizer & RangeOptimizer {
  const r = o as Partial<RangeOptimizer>;
  return typeof r.applyRange === 'function' && typeof r.advance === 'function' && r.elementwise === true;
}

export interface StepInfo {
  step: number;
  epoch: number;
  /** Mean loss over the step's batch. */
  loss: number;
  samples: number;
  ms: number;
}

/** Sample indices of global step t (and its epoch): the data order every engine shares. */
export type BatchPlan = (step: number) => { epoch: number; indices: Uint32Array };

/**
 * Single-process synchronous training: one global batch per step, its gradient
 * from any engine (one thread or many), one optimizer step. The coordinator
 * takes exactly the same step from gradients computed elsewhere.
 */
export class Trainer {
  step = 0;

  constructor(
    readonly params: Float32Array,
    readonly optimizer: StepOptimizer,
    readonly engine: GradientEngine,
    readonly plan: BatchPlan,
    readonly batch: number,
    readonly microBatch: number,
  ) {}

  async trainStep(): Promise<StepInfo> {
    const t0 = performance.now();
    const { epoch, indices } = this.plan(this.step);
    const m = microBatchCount(indices.length, this.microBatch);
    this.engine.setParams(this.step, this.params);
    const task = { step: this.step, batch: indices.length, microBatch: this.microBatch, mbLo: 0, mbHi: m, indices };
    let loss: number;
    if (this.engine.computeAndApply && this.params === this.engine.paramsBuffer && splittable(this.optimizer)) {
      // The engine merges the gradient and updates the parameters in one pass, split over its threads.
      loss = (await this.engine.computeAndApply(task, this.optimizer)).loss;
    } else {
      const r = await this.engine.compute(task);
      const [root] = reduceNodes(m, 0, m, r.nodes);
      this.optimizer.apply(this.params, root!.grad, indices.length);
      loss = root!.loss;
    }
    const info: StepInfo = { step: this.step, epoch, loss: loss / indices.length, samples: indices.length, ms: performance.now() - t0 };
    this.step++;
    return info;
  }
}
