import type { TreeNode } from './tree.js';

/** Tree nodes as the three flat arrays the wire carries: (lo, hi) pairs, loss sums, gradient blocks. */
export function packNodes(nodes: TreeNode[], paramCount: number): { nodes: Uint32Array; losses: Float64Array; grad: Float32Array } {
  const ranges = new Uint32Array(nodes.length * 2);
  const losses = new Float64Array(nodes.length);
  // One node (an aligned shard) is the common case: no copy; valid until the next compute (the caller encodes at once).
  const grad = nodes.length === 1 ? nodes[0]!.grad : new Float32Array(nodes.length * paramCount);
  nodes.forEach((n, i) => {
    ranges[2 * i] = n.lo;
    ranges[2 * i + 1] = n.hi;
    losses[i] = n.loss;
    if (nodes.length > 1) grad.set(n.grad, i * paramCount);
  });
  return { nodes: ranges, losses, grad };
}
