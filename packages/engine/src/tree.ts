/**
 * The canonical reduction tree over a step's micro-batches.
 *
 * A global batch of B samples is cut into M = ceil(B / microBatch) micro-batches.
 * The step's gradient is defined as the value of ONE fixed binary tree over
 * them: value(node) = value(left) + value(right), with a node whose right half
 * lies past M simply taking its left child's value (no addition, so no
 * rounding). Float addition is not associative, but a fixed tree is a fixed
 * sequence of additions: whoever computes a subtree — a thread, a worker, a
 * relay or the coordinator — produces the same bits, so neither the partition
 * of the batch nor the arrival order of gradients changes the result.
 *
 * A worker that owns micro-batches [a, b) sends the maximal canonical subtrees
 * inside [a, b) (at most 2·log2(M) of them; one when [a, b) is aligned).
 */
import { PLAN_ADD, PLAN_LEAF, type BlockPlan } from '@gradmesh/core';

export interface TreeNode {
  /** First micro-batch covered. */
  lo: number;
  /** One past the last micro-batch covered (clipped to M). */
  hi: number;
  /** Loss sum over the node's samples (float64, reduced by the same tree). */
  loss: number;
  /** Gradient sum over the node's samples. */
  grad: Float32Array;
}

/** Smallest L with 2^L >= m. */
export function treeDepth(m: number): number {
  let l = 0;
  while (1 << l < m) l++;
  return l;
}

/** The canonical nodes (as [lo, hi) ranges) that cover [a, b) of a tree over m leaves. */
export function coverRanges(m: number, a: number, b: number): Array<[number, number]> {
  if (!(0 <= a && a <= b && b <= m)) throw new RangeError(`cover [${a}, ${b}) is not inside [0, ${m})`);
  const out: Array<[number, number]> = [];
  const visit = (lo: number, level: number): void => {
    const hi = Math.min(lo + (1 << level), m);
    if (hi <= a || lo >= b || lo >= m) return;
    if (a <= lo && hi <= b) {
      out.push([lo, hi]);
      return;
    }
    const half = 1 << (level - 1);
    visit(lo, level - 1);
    visit(lo + half, level - 1);
  };
  if (a < b) visit(0, treeDepth(m));
  return out;
}

/**
 * The tree's one operation: dst += src element-wise, each sum formed in
 * double and rounded to float32 once (what `dst[i] += src[i]` does in JS).
 * Because a double holds the exact sum of two floats closely enough that the
 * second rounding never changes the result, every implementation of this
 * contract — the JS loop, a kernel set's SIMD axpy with α = 1 — gives the
 * same bits; they differ only in speed (JS ~3 ns per element here, AVX2
 * ~0.4 ns), and the tree's additions are most of what determinism costs.
 */
export type AddFn = (dst: Float32Array, src: Float32Array) => void;

/** The reference AddFn: dst += src, element by element, in index order. */
export function addInto(dst: Float32Array, src: Float32Array): void {
  const n = dst.length;
  if (src.length !== n) throw new RangeError(`gradient length ${src.length} != ${n}`);
  for (let i = 0; i < n; i++) dst[i] += src[i];
}

/** A kernel set's axpy as the tree's AddFn (α = 1: the same bits as addInto); addInto when it has none. */
export function kernelAdd(kernels: { axpy?(length: number, alpha: number, x: Float32Array, y: Float32Array): void } | undefined): AddFn {
  if (kernels?.axpy === undefined) return addInto;
  return (dst, src) => {
    if (src.length !== dst.length) throw new RangeError(`gradient length ${src.length} != ${dst.length}`);
    kernels.axpy!(dst.length, 1, src, dst);
  };
}

const key = (lo: number, hi: number): number => lo * 0x100000 + hi;

/**
 * Reduces the given nodes into the canonical cover of [a, b).
 * `nodes` must tile [a, b) with canonical subtrees (as produced by coverRanges
 * for any partition of [a, b)). Buffers of input nodes may be reused as
 * outputs (left children accumulate their right siblings in place).
 */
export function reduceNodes(m: number, a: number, b: number, nodes: TreeNode[], add: AddFn = addInto): TreeNode[] {
  const byRange = new Map<number, TreeNode>();
  for (const n of nodes) {
    const k = key(n.lo, n.hi);
    if (byRange.has(k)) throw new Error(`duplicate tree node [${n.lo}, ${n.hi})`);
    byRange.set(k, n);
  }
  const value = (lo: number, level: number): TreeNode => {
    const hi = Math.min(lo + (1 << level), m);
    const given = byRange.get(key(lo, hi));
    if (given) {
      byRange.delete(key(lo, hi));
      return given;
    }
    if (level === 0) throw new Error(`micro-batch ${lo} is missing from the reduction`);
    const half = 1 << (level - 1);
    const left = value(lo, level - 1);
    if (lo + half >= m) return { ...left, lo, hi };
    const right = value(lo + half, level - 1);
    add(left.grad, right.grad);
    return { lo, hi, loss: left.loss + right.loss, grad: left.grad };
  };
  const out = coverRanges(m, a, b).map(([lo, hi]) => {
    const level = levelOf(m, lo, hi);
    return value(lo, level);
  });
  if (byRange.size > 0) {
    const [n] = byRange.values();
    throw new Error(`tree node [${n!.lo}, ${n!.hi}) lies outside [${a}, ${b}) or overlaps another`);
  }
  return out;
}

/** The highest level at which the canonical node starting at lo spans [lo, hi). */
function levelOf(m: number, lo: number, hi: number): number {
  let level = 0;
  while (Math.min(lo + (1 << level), m) < hi) level++;
  // Climb while the clipped range stays the same and lo stays aligned.
  while (lo % (1 << (level + 1)) === 0 && Math.min(lo + (1 << (level + 1)), m) === hi && 1 << level < m) level++;
  return level;
}

/** Builds the cover of [a, b) from per-micro-batch leaves produced in order by `leaf(j)`. */
export function buildCover(
  m: number,
  a: number,
  b: number,
  leaf: (j: number) => { loss: number; grad: Float32Array },
  release: (grad: Float32Array) => void = () => {},
  add: AddFn = addInto,
): TreeNode[] {
  const value = (lo: number, level: number): TreeNode => {
    const hi = Math.min(lo + (1 << level), m);
    if (level === 0) {
      const r = leaf(lo);
      return { lo, hi, loss: r.loss, grad: r.grad };
    }
    const half = 1 << (level - 1);
    const left = value(lo, level - 1);
    if (lo + half >= m) return { ...left, lo, hi };
    const right = value(lo + half, level - 1);
    add(left.grad, right.grad);
    release(right.grad);
    return { lo, hi, loss: left.loss + right.loss, grad: left.grad };
  };
  return coverRanges(m, a, b).map(([lo, hi]) => value(lo, levelOf(m, lo, hi)));
}

/**
 * Folds canonical nodes in as they arrive, merging siblings immediately, so a
 * coordinator holds O(log M) gradient buffers instead of one per worker. The
 * merges are the canonical tree's additions, so the root has the same bits
 * whatever the arrival order.
 */
export class TreeAccumulator {
  private readonly nodes = new Map<number, TreeNode>();
  private covered = 0;

  constructor(
    readonly m: number,
    private readonly addFn: AddFn = addInto,
  ) {}

  get complete(): boolean {
    return this.covered === this.m;
  }

  /** Adds a canonical node; throws if it overlaps what is already there. */
  add(node: TreeNode): void {
    let cur = node;
    const k0 = key(cur.lo, cur.hi);
    if (this.nodes.has(k0)) throw new Error(`duplicate tree node [${cur.lo}, ${cur.hi})`);
    this.covered += cur.hi - cur.lo;
    for (;;) {
      const level = levelOf(this.m, cur.lo, cur.hi);
      const size = 1 << level;
      if (size >= this.m && cur.lo === 0) break; // the root
      const isLeft = cur.lo % (size * 2) === 0;
      const sLo = isLeft ? cur.lo + size : cur.lo - size;
      const sHi = isLeft ? Math.min(cur.lo + 2 * size, this.m) : cur.lo;
      const sib = this.nodes.get(key(sLo, sHi));
      if (!sib) break;
      this.nodes.delete(key(sLo, sHi));
      const [left, right] = isLeft ? [cur, sib] : [sib, cur];
      this.addFn(left.grad, right.grad);
      cur = { lo: left.lo, hi: right.hi, loss: left.loss + right.loss, grad: left.grad };
    }
    this.nodes.set(key(cur.lo, cur.hi), cur);
  }

  /** The step's total once every micro-batch is in. */
  root(): TreeNode {
    const r = this.nodes.get(key(0, this.m));
    if (!r || !this.complete) throw new Error(`reduction incomplete: ${this.covered} of ${this.m} micro-batches`);
    return r;
  }

  /** Gradient buffers currently held (for memory accounting in tests). */
  get held(): number {
    return this.nodes.size;
  }
}

/**
 * The canonical tree's additions inside micro-batches [lo, hi), as a block
 * plan for Model.lossAndGradBlocks (block i = micro-batch lo + i): the plan's
 * outputs are the canonical cover of [lo, hi), in order, with their ranges.
 * Slots are reused as the tree is walked: a plan needs at most the cover's
 * nodes plus the tree's depth (≤ 2·log2(M) + 2). Its additions are exactly
 * buildCover's.
 */
export function coverPlan(m: number, lo: number, hi: number): { plan: BlockPlan; ranges: Array<[number, number]> } {
  const ops: number[] = [];
  const free: number[] = [];
  let slots = 0;
  const take = (): number => free.pop() ?? slots++;
  const value = (a: number, level: number): number => {
    if (level === 0) {
      const s = take();
      ops.push(PLAN_LEAF, a - lo, s);
      return s;
    }
    const half = 1 << (level - 1);
    const left = value(a, level - 1);
    if (a + half >= m) return left;
    const right = value(a + half, level - 1);
    ops.push(PLAN_ADD, left, right);
    free.push(right);
    return left;
  };
  const ranges = coverRanges(m, lo, hi);
  const outSlots = ranges.map(([a, b]) => value(a, levelOf(m, a, b)));
  return { plan: { ops: Int32Array.from(ops), slots: Math.max(slots, 1), outSlots: Int32Array.from(outSlots) }, ranges };
}
