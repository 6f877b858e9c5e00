/**
 * A kernel set: the dense linear algebra every layer's forward and backward pass
 * is built from. The JS kernels are the reference; WASM-SIMD and native kernels
 * implement the same contract and are tested against it.
 *
 * All matrices are row-major Float32Arrays. Offsets are carried by the views
 * themselves (`subarray`), so a kernel that works in its own memory (WASM) can
 * recognise views it allocated through `alloc` and skip copies.
 */
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
}
