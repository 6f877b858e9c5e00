import type { OptimizerConfig } from '@gradmesh/core';
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
  /**
   * Optional: computes a whole-batch task and applies `optimizer` to
   * paramsBuffer in the same pass — the reduction's last additions and the
   * update split across the engine's threads — with the bits of compute()
   * then optimizer.apply(). Returns the batch's loss sum.
   */
  computeAndApply?(task: GradTask, optimizer: RangeOptimizer): Promise<{ loss: number; samples: number; computeMs: number }>;
  close(): Promise<void>;
}

/** An optimizer whose update can be split by parameter range (core's Optimizer). */
export interface RangeOptimizer {
  readonly config: OptimizerConfig;
  /** Its state buffer: an engine may move it into shared memory (same values). */
  state: Float32Array;
  readonly t: number;
  readonly elementwise: boolean;
  applyRange(params: Float32Array, gradSum: Float32Array, batchSize: number, lo: number, hi: number): void;
  advance(): void;
}
