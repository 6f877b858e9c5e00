import type { Kernels } from '@gradmesh/core';

/**
 * FNV-1a hash of the result bits of a fixed set of gemms (all forms, with and
 * without accumulate, awkward sizes). Equal fingerprints mean bit-identical
 * kernels: used to check that Node and browsers compute the same bits.
 */
export function kernelFingerprint(kernels: Kernels): string {
  let h = 0x811c9dc5;
  let s = 12345;
  const rnd = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  };
  const shapes: [boolean, boolean, number, number, number, boolean][] = [
    [false, false, 37, 29, 131, false],
    [true, false, 64, 10, 33, true],
    [false, true, 17, 65, 7, true],
    [true, true, 5, 3, 300, false],
  ];
  for (const [ta, tb, m, n, k, acc] of shapes) {
    const A = kernels.alloc(m * k);
    const B = kernels.alloc(k * n);
    const C = kernels.alloc(m * n);
    for (let i = 0; i < A.length; i++) A[i] = rnd();
    for (let i = 0; i < B.length; i++) B[i] = rnd();
    for (let i = 0; i < C.length; i++) C[i] = rnd();
    kernels.gemm(ta, tb, m, n, k, A, B, C, acc);
    const bits = new Uint32Array(C.buffer, C.byteOffset, C.length);
    for (let i = 0; i < bits.length; i++) {
      h = Math.imul(h ^ bits[i], 0x01000193) >>> 0;
    }
  }
  return h.toString(16).padStart(8, '0');
}
