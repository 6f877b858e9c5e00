import { gradientLength, gradientSchema, type GradientMessage } from '@gradmesh/protocol';

/**
 * Why a gradient the engine produced would be refused, or undefined. The
 * schema checks types and shapes (O(1): typed arrays are checked by class and
 * length, not element by element); the run adds the length per node.
 */
export function checkGradient(msg: GradientMessage, paramCount: number | undefined): string | undefined {
  const parsed = gradientSchema.safeParse(msg);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return `${issue.path.join('.') || 'gradient'}: ${issue.message}`;
  }
  const nodeCount = msg.nodes.length / 2;
  const length = gradientLength(msg);
  if (paramCount !== undefined && length !== nodeCount * paramCount) {
    return `grad: expected ${nodeCount} nodes × ${paramCount} params = ${nodeCount * paramCount} floats, got ${length}`;
  }
  return undefined;
}
