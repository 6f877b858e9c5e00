import { treeDepth, microBatchCount } from '@gradmesh/engine';

/**
 * The largest frame a worker may legitimately send: a gradient message with the
 * most tree nodes a shard can need (2·log2(M)+1), plus headroom for the
 * envelope. Anything larger is refused by ws with close code 1009 before it is
 * buffered, so a hostile peer cannot make us allocate a gigabyte.
 */
export function maxFrameBytes(paramCount: number, batch: number, microBatch: number): number {
  const nodes = 2 * treeDepth(microBatchCount(batch, microBatch)) + 1;
  return nodes * (paramCount * 4 + 16) + 64 * 1024;
}
