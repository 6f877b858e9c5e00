/**
 * A kernel set: the dense linear algebra every layer's forward and backward pass
 * is built from. The JS kernels are the reference; WASM-SIMD and native kernels
 * implement the same contract and are tested against it.
 *
 * All matrices are row-major Float32Arrays. Offsets are carried by the views
 * themselves (`subarray`), so a kernel that works in its own memory (WASM) can
 * recognise views it allocated through `alloc` and skip copies.
 */
import type { BlockPlan } from './blocks.js';

export interface Kernels {
  readonly name: string;
  /**
   * A zeroed buffer the kernels can operate on without copying (WASM: a view
   * into linear memory; JS/native: a plain Float32Array).
   */
  alloc(length: number): Float32Array;
  /**
   * C (m×n) = (accumulate ? C : 0) + op(A) · op(B)
   * op(A) is m×k: A is stored m×k, or k×m when transA.
   * op(B) is k×n: B is stored k×n, or n×k when transB.
   * The layers use three forms: NN (X·W), TN (Xᵀ·dZ), NT (dZ·Wᵀ).
   * The summation order over k is fixed per kernel set, so the same inputs
   * give the same bits on every call (determinism depends on it).
   */
  gemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    A: Float32Array,
    B: Float32Array,
    C: Float32Array,
    accumulate: boolean,
  ): void;

  // Optional element-wise passes. Each gives exactly the bits of its JS
  // reference in ./elementwise.ts (which core runs when a kernel set lacks
  // it), so implementing one changes only the speed, never a result, and
  // kernel sets stay free to implement any subset. They exist because V8
  // runs Float32Array loops at ~2 ns per element (map, bounds and
  // backing-store checks on every access): on the benchmark models these
  // passes cost as much as the gemms they follow. Called as methods, on
  // arrays of at least the lengths given; no operand overlaps another.

  /** x[i] ← x[i] < 0 ? 0 : x[i] for i < length (NaN and −0 pass through). */
  relu?(length: number, x: Float32Array): void;
  /**
   * relu backward fused with the bias gradient, over rows×cols row-major:
   * d ← a ≤ 0 ? 0 : d (a NaN a passes d), then out[j] ← Σ_r d[r][j], summed
   * in row order in double from +0 and rounded to float32 once.
   */
  reluBackwardColSums?(rows: number, cols: number, a: Float32Array, d: Float32Array, out: Float32Array): void;
  /** y[i] ← y[i] + alpha·x[i] for i < length: product and sum in double, rounded to float32 once. */
  axpy?(length: number, alpha: number, x: Float32Array, y: Float32Array): void;
  /**
   * Momentum SGD's update for i < length: v' = mu·v[i] + scale·grad[i] in
   * double, v[i] ← v' rounded to float32, params[i] ← params[i] − lr·v'
   * (the unrounded v') rounded once.
   */
  momentum?(length: number, mu: number, scale: number, lr: number, grad: Float32Array, v: Float32Array, params: Float32Array): void;
  /**
   * Adam's update for i < length, coefficients c = [B, clip, wd, shrink, b1,
   * b2, lr, bc1, bc2, eps] — exactly the operations of the JS reference
   * (elementwise.ts adam) in its order, in double, each store rounded once.
   */
  adam?(length: number, c: Float64Array, grad: Float32Array, m: Float32Array, v: Float32Array, params: Float32Array): void;

  /**
   * Weight gradients of consecutive row blocks, combined by a plan
   * (./blocks.ts): block j is rows [bounds[j], bounds[j+1]) of A (rows×m)
   * and B (rows×n), its gradient G_j = A_jᵀ·B_j summed exactly as this set's
   * gemm(true, false, m, n, rows_j, …) sums it; then the plan's float32
   * additions; outs[i] (m×n) ← slot plan.outSlots[i]. The bits are those of
   * gemmTnBlocksReference on this kernel set: fusing only keeps the
   * per-block products in cache instead of writing, re-reading and adding
   * whole m×n buffers per block — most of what small deterministic
   * micro-batches cost. Optional, like the element-wise passes.
   */
  gemmTnBlocks?(m: number, n: number, A: Float32Array, B: Float32Array, bounds: Int32Array, plan: BlockPlan, outs: Float32Array[]): void;
}
