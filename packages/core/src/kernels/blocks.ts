/**
 * Block plans: how the gradients of consecutive row blocks (micro-batches)
 * are combined. Core does not know which reduction a caller wants (the
 * engine's canonical tree); it executes a plan — a straight-line program
 * over a few gradient slots:
 *   [LEAF, j, s]   slot s ← block j's gradient (its sum from +0)
 *   [ADD,  a, b]   slot a ← slot a + slot b (float32 sums, rounded once; a ≠ b)
 * and hands back the final values of the slots listed in `outSlots`.
 * Because every element's sequence of operations is fixed by the plan, the
 * bits do not depend on whether a kernel fuses it (gemmTnBlocks keeps the
 * slots as register tiles in L1) or runs it as one gemm per block plus
 * whole-buffer additions (the reference below).
 */
import type { Kernels } from './types.js';

export const PLAN_LEAF = 0;
export const PLAN_ADD = 1;

/** Treated as immutable once made: kernels may cache what they derive from a plan object. */
export interface BlockPlan {
  /** Triples: [PLAN_LEAF, block, slot] or [PLAN_ADD, dstSlot, srcSlot]. */
  readonly ops: Int32Array;
  /** Slots the plan uses (0 … slots−1). */
  readonly slots: number;
  /** The plan's results: output i is the final value of slot outSlots[i]. */
  readonly outSlots: Int32Array;
}

/** The most slots a plan may use (kernels keep one register tile per slot). */
export const MAX_PLAN_SLOTS = 1024;

/** Every block its own output: block j → output j. */
export function separatePlan(blocks: number): BlockPlan {
  const ops = new Int32Array(3 * blocks);
  for (let j = 0; j < blocks; j++) ops.set([PLAN_LEAF, j, j], 3 * j);
  return { ops, slots: blocks, outSlots: Int32Array.from({ length: blocks }, (_, j) => j) };
}

/** Throws unless the plan is well formed for `blocks` blocks: slots in range, every slot written before it is read. */
export function checkPlan(plan: BlockPlan, blocks: number): void {
  const { ops, slots, outSlots } = plan;
  if (!(Number.isInteger(slots) && slots >= 1 && slots <= MAX_PLAN_SLOTS)) throw new RangeError(`a plan uses 1 to ${MAX_PLAN_SLOTS} slots, got ${slots}`);
  if (ops.length % 3 !== 0) throw new RangeError('plan ops must be triples');
  const written = new Uint8Array(slots);
  const slot = (s: number): number => {
    if (!(s >= 0 && s < slots)) throw new RangeError(`plan slot ${s} is outside [0, ${slots})`);
    return s;
  };
  for (let i = 0; i < ops.length; i += 3) {
    const [op, a, b] = [ops[i], ops[i + 1], ops[i + 2]];
    if (op === PLAN_LEAF) {
      if (!(a >= 0 && a < blocks)) throw new RangeError(`plan block ${a} is outside [0, ${blocks})`);
      written[slot(b)] = 1;
    } else if (op === PLAN_ADD) {
      if (!written[slot(a)] || !written[slot(b)]) throw new RangeError(`plan adds slot ${b} into ${a} before both are written`);
      if (a === b) throw new RangeError(`plan adds slot ${a} to itself`);
    } else {
      throw new RangeError(`unknown plan op ${op}`);
    }
  }
  for (const s of outSlots) if (!written[slot(s)]) throw new RangeError(`plan output slot ${s} is never written`);
}

/**
 * The reference of Kernels.gemmTnBlocks: one TN gemm per block (this kernel
 * set's own gemm, so its own summation order) into slot buffers, then the
 * plan's additions, then a copy per output. `scratch(i)` returns slot i's
 * buffer (at least m·n floats; kept by the caller between calls).
 */
export function gemmTnBlocksReference(
  kernels: Kernels,
  m: number,
  n: number,
  A: Float32Array,
  B: Float32Array,
  bounds: Int32Array,
  plan: BlockPlan,
  outs: Float32Array[],
  scratch: (slot: number) => Float32Array,
): void {
  const len = m * n;
  const { ops } = plan;
  for (let i = 0; i < ops.length; i += 3) {
    if (ops[i] === PLAN_LEAF) {
      const j = ops[i + 1];
      const [r0, r1] = [bounds[j], bounds[j + 1]];
      kernels.gemm(true, false, m, n, r1 - r0, A.subarray(r0 * m, r1 * m), B.subarray(r0 * n, r1 * n), scratch(ops[i + 2]).subarray(0, len), false);
    } else {
      const dst = scratch(ops[i + 1]).subarray(0, len);
      const src = scratch(ops[i + 2]).subarray(0, len);
      if (kernels.axpy !== undefined) kernels.axpy(len, 1, src, dst);
      else for (let t = 0; t < len; t++) dst[t] += src[t];
    }
  }
  plan.outSlots.forEach((s, o) => outs[o].set(scratch(s).subarray(0, len)));
}

/** The plan run over per-block values in double (losses). */
export function runPlanScalar(plan: BlockPlan, leaves: ArrayLike<number>): Float64Array {
  const slot = new Float64Array(plan.slots);
  const { ops } = plan;
  for (let i = 0; i < ops.length; i += 3) {
    if (ops[i] === PLAN_LEAF) slot[ops[i + 2]] = leaves[ops[i + 1]];
    else slot[ops[i + 1]] = slot[ops[i + 1]] + slot[ops[i + 2]];
  }
  return Float64Array.from(plan.outSlots, (s) => slot[s]);
}

/**
 * A plan's ops with each leaf that is consumed by the very next op (an
 * addition into another slot) and never read again fused into one op
 * [PLAN_LEAF_ADD, block, dstSlot]: a kernel runs it as "dst ← dst + (the
 * block's product from +0)", the same float additions without storing and
 * re-reading the leaf. (The native addon does the same in C.)
 */
export const PLAN_LEAF_ADD = 2;

export function fusePlanOps(plan: BlockPlan): Int32Array {
  const { ops, outSlots } = plan;
  const out: number[] = [];
  const n = ops.length / 3;
  for (let q = 0; q < n; q++) {
    const [op, a, b] = [ops[3 * q], ops[3 * q + 1], ops[3 * q + 2]];
    if (op === PLAN_LEAF && q + 1 < n && ops[3 * q + 3] === PLAN_ADD && ops[3 * q + 5] === b && ops[3 * q + 4] !== b && !outSlots.includes(b)) {
      let dead = true;
      for (let r = q + 2; dead && r < n; r++) {
        if (ops[3 * r] === PLAN_LEAF && ops[3 * r + 2] === b) break; // rewritten before any read
        if (ops[3 * r] === PLAN_ADD && (ops[3 * r + 1] === b || ops[3 * r + 2] === b)) dead = false;
      }
      if (dead) {
        out.push(PLAN_LEAF_ADD, a, ops[3 * q + 4]);
        q++;
        continue;
      }
    }
    out.push(op, a, b);
  }
  return Int32Array.from(out);
}
