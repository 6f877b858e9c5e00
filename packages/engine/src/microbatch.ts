/**
 * Micro-batch arithmetic. A step's global batch of `batch` samples is cut into
 * fixed micro-batches of `microBatch` samples (the last may be shorter). The
 * micro-batch, not the worker's shard, is the unit of computation: its
 * gradient is computed the same way wherever it runs, and micro-batch
 * gradients are combined by the canonical tree (tree.ts).
 */
export function microBatchCount(batch: number, microBatch: number): number {
  return Math.ceil(batch / microBatch);
}

/** Batch positions [start, end) of micro-batch j. */
export function microBatchSpan(batch: number, microBatch: number, j: number): [number, number] {
  const start = j * microBatch;
  return [start, Math.min(start + microBatch, batch)];
}

/** Number of samples in micro-batches [lo, hi). */
export function samplesIn(batch: number, microBatch: number, lo: number, hi: number): number {
  return Math.min(hi * microBatch, batch) - Math.min(lo * microBatch, batch);
}
