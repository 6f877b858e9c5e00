import { describe, expect, test } from 'vitest';
import { jsKernels, Rng, type Kernels } from '@gradmesh/core';

/** Plain triple loop in float64: the oracle for every kernel set. */
function naiveGemm(tA: boolean, tB: boolean, m: number, n: number, k: number, A: Float32Array, B: Float32Array, C: Float32Array, acc: boolean): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = acc ? C[i * n + j] : 0;
      for (let kk = 0; kk < k; kk++) s += (tA ? A[kk * m + i] : A[i * k + kk]) * (tB ? B[j * k + kk] : B[kk * n + j]);
      out[i * n + j] = s;
    }
  }
  return out;
}

function randomMatrix(rng: Rng, len: number, zeroFraction = 0): Float32Array {
  const a = new Float32Array(len);
  for (let i = 0; i < len; i++) a[i] = rng.next() < zeroFraction ? 0 : rng.normal();
  return a;
}

// Every kernel set registers here and gets the same suite.
const kernelSets: Kernels[] = [jsKernels];

for (const K of kernelSets) {
  describe(`${K.name} kernels`, () => {
    const shapes: [number, number, number][] = [
      [1, 1, 1], [3, 5, 7], [4, 4, 4], [5, 3, 1], [17, 9, 33], [64, 10, 128], [2, 130, 6], [13, 1, 70],
    ];
    for (const tA of [false, true]) {
      for (const tB of [false, true]) {
        test(`gemm ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'} equals the triple loop on ragged shapes, storing and accumulating`, () => {
          const rng = new Rng(tA ? (tB ? 1 : 2) : tB ? 3 : 4);
          let worst = 0;
          for (const [m, n, k] of shapes) {
            for (const acc of [false, true]) {
              for (const zeros of [0, 0.7]) {
                const A = randomMatrix(rng, m * k, zeros);
                const B = randomMatrix(rng, k * n);
                const C = randomMatrix(rng, m * n);
                const want = naiveGemm(tA, tB, m, n, k, A, B, C, acc);
                K.gemm(tA, tB, m, n, k, A, B, C, acc);
                for (let i = 0; i < m * n; i++) {
                  worst = Math.max(worst, Math.abs(C[i] - want[i]) / (1 + Math.abs(want[i])));
                }
              }
            }
          }
          expect(worst).toBeLessThan(1e-6);
        });
      }
    }

    test('k = 0 gives zeros (or leaves C when accumulating); m or n = 0 touches nothing', () => {
      const C = Float32Array.of(1, 2, 3, 4);
      K.gemm(false, false, 2, 2, 0, new Float32Array(0), new Float32Array(0), C, true);
      expect(Array.from(C)).toEqual([1, 2, 3, 4]);
      K.gemm(false, false, 2, 2, 0, new Float32Array(0), new Float32Array(0), C, false);
      expect(Array.from(C)).toEqual([0, 0, 0, 0]);
      const D = Float32Array.of(7);
      K.gemm(false, false, 0, 1, 3, new Float32Array(0), new Float32Array(3), D, false);
      expect(D[0]).toBe(7);
    });

    test('the same inputs give the same bits on every call, whatever ran in between', () => {
      const rng = new Rng(8);
      const A = randomMatrix(rng, 37 * 91, 0.5);
      const B = randomMatrix(rng, 91 * 29);
      const C1 = new Float32Array(37 * 29);
      const C2 = new Float32Array(37 * 29);
      K.gemm(false, false, 37, 29, 91, A, B, C1, false);
      K.gemm(true, true, 50, 60, 70, randomMatrix(rng, 3500), randomMatrix(rng, 4200), new Float32Array(3000), false);
      K.gemm(false, false, 37, 29, 91, A, B, C2, false);
      expect(new Uint32Array(C2.buffer)).toEqual(new Uint32Array(C1.buffer));
    });

    test('views with offsets are honoured (operands are subarrays)', () => {
      const rng = new Rng(9);
      const big = randomMatrix(rng, 100);
      const A = big.subarray(10, 10 + 6); // 2×3
      const B = big.subarray(50, 50 + 12); // 3×4
      const C = new Float32Array(20).subarray(4, 12); // 2×4
      const want = naiveGemm(false, false, 2, 4, 3, A, B, C, false);
      K.gemm(false, false, 2, 4, 3, A, B, C, false);
      for (let i = 0; i < 8; i++) expect(C[i]).toBeCloseTo(want[i], 5);
    });

    test('alloc returns a zeroed buffer of the asked length', () => {
      const a = K.alloc(33);
      expect(a.length).toBe(33);
      expect(a.every((v) => v === 0)).toBe(true);
    });
  });
}
