import type { TreeNode } from './tree.js';

/**
 * One unit of gradient work: micro-batches [mbLo, mbHi) of a step whose global
 * batch has `batch` samples cut into micro-batches of `microBatch`.
 * `indices` holds the dataset indices of exactly those micro-batches, in batch order.
 */
export interface GradTask {
  step: number;
  batch: number;
  microBatch: number;
  mbLo: number;
  mbHi: number;
  indices: Uint32Array;
}

export interface GradResult {
  /** Canonical tree nodes covering [mbLo, mbHi). */
  nodes: TreeNode[];
  samples: number;
  computeMs: number;
}

/**
 * Anything that turns tasks into gradient sums: the single-thread engine, the
 * worker-thread pool, or (seen from the coordinator) a remote worker.
 * Results are only valid until the next call to compute() on the same engine.
 */
export interface GradientEngine {
  readonly kind: string;
  readonly threads: number;
  /**
   * Where the engine reads the parameters from, when it holds them in a
   * buffer of its own (a thread pool's SharedArrayBuffer). A caller that keeps
   * its parameters in this very array (and updates them there) makes
   * setParams free: no per-step copy of the model.
   */
  readonly paramsBuffer?: Float32Array;
  /** The parameters for the next compute(); copied unless `params` is paramsBuffer itself. */
  setParams(version: number, params: Float32Array): void;
  compute(task: GradTask): Promise<GradResult>;
  close(): Promise<void>;
}
