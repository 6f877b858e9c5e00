// The Kernels contract as a reusable vitest suite: every kernel set is checked
// against an independent float64 reference gemm. Used by kernels-wasm's and
// kernels-native's tests (import '@gradmesh/core/test-kit/kernel-conformance').
import { describe, expect, test } from 'vitest';
import { gemmTnBlocksReference, jsElementwise, PLAN_ADD, PLAN_LEAF, separatePlan, type BlockPlan, type Kernels } from '../src/index.js';

export type Form = 'NN' | 'TN' | 'NT' | 'TT';
export const FORMS: Form[] = ['NN', 'TN', 'NT', 'TT'];

/** Deterministic uniform(-1, 1) floats (LCG), so failures reproduce. */
export function randomFill(a: Float32Array, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < a.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 2 ** 32) * 2 - 1;
  }
  return a;
}

/**
 * C = (acc ? C0 : 0) + op(A)·op(B) in float64, plus Σ|terms| per element —
 * the scale of the rounding error a float32 gemm may make.
 */
export function referenceGemm(
  ta: boolean, tb: boolean, m: number, n: number, k: number,
  A: Float32Array, B: Float32Array, C0: Float32Array, acc: boolean,
): { value: Float64Array; scale: Float64Array } {
  const value = new Float64Array(m * n);
  const scale = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = acc ? C0[i * n + j] : 0;
      let sa = Math.abs(s);
      for (let p = 0; p < k; p++) {
        const a = ta ? A[p * m + i] : A[i * k + p];
        const b = tb ? B[j * k + p] : B[p * n + j];
        s += a * b;
        sa += Math.abs(a * b);
      }
      value[i * n + j] = s;
      scale[i * n + j] = sa;
    }
  }
  return { value, scale };
}

export interface Case {
  form: Form;
  m: number;
  n: number;
  k: number;
  accumulate: boolean;
}

const AWKWARD = [1, 3, 7, 17, 33, 65, 127];

/** Shapes that hit every edge of the tilings: awkward sizes, the training shapes, and random ones. */
export function conformanceCases(seed = 7): Case[] {
  const cases: Case[] = [];
  let s = seed;
  const rnd = (lo: number, hi: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return lo + (s % (hi - lo + 1));
  };
  for (const form of FORMS) {
    for (const accumulate of [false, true]) {
      for (const m of AWKWARD) for (const n of [1, 17, 33]) cases.push({ form, m, n, k: AWKWARD[(m + n) % 7], accumulate });
      for (const k of AWKWARD) cases.push({ form, m: 13, n: 65, k, accumulate });
      cases.push({ form, m: 64, n: 128, k: 785, accumulate });
      cases.push({ form, m: 7, n: 785, k: 33, accumulate });
      cases.push({ form, m: 785, n: 10, k: 64, accumulate });
      for (let r = 0; r < 6; r++) cases.push({ form, m: rnd(1, 300), n: rnd(1, 300), k: rnd(1, 300), accumulate });
    }
  }
  return cases;
}

function operands(kernels: Kernels, c: Case, seed: number) {
  const A = randomFill(kernels.alloc(c.m * c.k), seed);
  const B = randomFill(kernels.alloc(c.k * c.n), seed + 1);
  const C = randomFill(kernels.alloc(c.m * c.n), seed + 2);
  return { A, B, C, C0: C.slice() };
}

/** Largest |C - ref| / (Σ|terms|·(k+2)·2⁻²⁴ + tiny): ≤ 1 is within float32 rounding. */
export function checkCase(kernels: Kernels, c: Case, seed: number): number {
  const ta = c.form[0] === 'T';
  const tb = c.form[1] === 'T';
  const { A, B, C, C0 } = operands(kernels, c, seed);
  kernels.gemm(ta, tb, c.m, c.n, c.k, A, B, C, c.accumulate);
  const ref = referenceGemm(ta, tb, c.m, c.n, c.k, A, B, C0, c.accumulate);
  const u = 2 ** -24;
  let worst = 0;
  for (let i = 0; i < C.length; i++) {
    const bound = ref.scale[i] * (c.k + 2) * u + 1e-30;
    const err = Math.abs(C[i] - ref.value[i]);
    if (!(err <= bound * 1e6)) return Infinity; // NaN or wildly off
    worst = Math.max(worst, err / bound);
  }
  return worst;
}

const label = (c: Case) => `${c.form} ${c.m}×${c.n}×${c.k}${c.accumulate ? ' +=' : ''}`;

/** The whole contract for one kernel set. `make` is called once per test. */
export function describeKernelConformance(name: string, make: () => Kernels): void {
  describeElementwiseConformance(name, make);
  describe(`${name}: Kernels contract`, () => {
    const cases = conformanceCases();

    test(`matches a float64 reference gemm within float32 rounding (${cases.length} shapes, NN/TN/NT/TT, accumulate on/off)`, () => {
      const kernels = make();
      const bad: string[] = [];
      cases.forEach((c, i) => {
        const r = checkCase(kernels, c, 1000 + i);
        if (!(r <= 1)) bad.push(`${label(c)}: error ${r.toFixed(2)}× the bound`);
      });
      expect(bad).toEqual([]);
    });

    test('same inputs give the same bits on every call', () => {
      const kernels = make();
      for (const form of FORMS) {
        const c: Case = { form, m: 65, n: 33, k: 127, accumulate: true };
        const ta = form[0] === 'T';
        const tb = form[1] === 'T';
        const { A, B, C, C0 } = operands(kernels, c, 99);
        kernels.gemm(ta, tb, c.m, c.n, c.k, A, B, C, true);
        const first = C.slice();
        for (let rep = 0; rep < 3; rep++) {
          C.set(C0);
          kernels.gemm(ta, tb, c.m, c.n, c.k, A, B, C, true);
          expect(new Uint32Array(C.buffer, C.byteOffset, C.length)).toEqual(new Uint32Array(first.buffer));
        }
      }
    });

    test('a row of C does not depend on how many rows are computed with it', () => {
      // Shards of a batch (NN/NT: rows of C) must give the rows the full batch gives.
      const kernels = make();
      for (const form of ['NN', 'NT'] as const) {
        const m = 50, n = 37, k = 129;
        const tb = form === 'NT';
        const A = randomFill(kernels.alloc(m * k), 5);
        const B = randomFill(kernels.alloc(k * n), 6);
        const full = kernels.alloc(m * n);
        kernels.gemm(false, tb, m, n, k, A, B, full, false);
        for (const [r0, r1] of [[0, 1], [3, 10], [17, 50]]) {
          const part = kernels.alloc((r1 - r0) * n);
          kernels.gemm(false, tb, r1 - r0, n, k, A.subarray(r0 * k, r1 * k), B, part, false);
          expect(new Uint32Array(part.buffer, part.byteOffset, part.length))
            .toEqual(new Uint32Array(full.buffer, full.byteOffset + r0 * n * 4, (r1 - r0) * n));
        }
      }
    });

    test('accumulate=false ignores (and overwrites) NaN in C; accumulate=true adds to C', () => {
      const kernels = make();
      const A = kernels.alloc(6).fill(1);
      const B = kernels.alloc(6).fill(2);
      const C = kernels.alloc(4).fill(NaN);
      kernels.gemm(false, false, 2, 2, 3, A, B, C, false);
      expect(Array.from(C)).toEqual([6, 6, 6, 6]);
      kernels.gemm(false, false, 2, 2, 3, A, B, C, true);
      expect(Array.from(C)).toEqual([12, 12, 12, 12]);
    });

    test('k = 0 gives C = 0 (or leaves C when accumulating); m or n = 0 is a no-op', () => {
      const kernels = make();
      const E = kernels.alloc(0);
      const C = kernels.alloc(6).fill(3);
      kernels.gemm(false, false, 2, 3, 0, E, E, C, true);
      expect(Array.from(C)).toEqual([3, 3, 3, 3, 3, 3]);
      kernels.gemm(false, false, 2, 3, 0, E, E, C, false);
      expect(Array.from(C)).toEqual([0, 0, 0, 0, 0, 0]);
      kernels.gemm(true, true, 0, 3, 4, E, kernels.alloc(12), E, false);
    });

    test('works on offset views and leaves memory around C untouched', () => {
      const kernels = make();
      const m = 9, n = 19, k = 11;
      const A = randomFill(new Float32Array(m * k + 5), 1).subarray(3, 3 + m * k);
      const B = randomFill(new Float32Array(k * n + 7), 2).subarray(1, 1 + k * n);
      const big = new Float32Array(m * n + 8).fill(-7);
      const C = big.subarray(4, 4 + m * n);
      kernels.gemm(true, false, m, n, k, A, B, C, false);
      const ref = referenceGemm(true, false, m, n, k, A, B, C, false);
      for (let i = 0; i < C.length; i++) expect(C[i]).toBeCloseTo(ref.value[i], 4);
      expect(Array.from(big.subarray(0, 4))).toEqual([-7, -7, -7, -7]);
      expect(Array.from(big.subarray(4 + m * n))).toEqual([-7, -7, -7, -7]);
    });

    test('alloc returns zeroed Float32Arrays of the requested length', () => {
      const kernels = make();
      for (const len of [0, 1, 17, 1000]) {
        const a = kernels.alloc(len);
        expect(a).toBeInstanceOf(Float32Array);
        expect(a.length).toBe(len);
        expect(a.every((x) => x === 0)).toBe(true);
      }
    });

    test('rejects arrays shorter than the shape needs', () => {
      const kernels = make();
      const A = new Float32Array(6), B = new Float32Array(6), C = new Float32Array(4);
      expect(() => kernels.gemm(false, false, 2, 2, 3, A.subarray(1), B, C, false)).toThrow(RangeError);
      expect(() => kernels.gemm(false, false, 2, 2, 3, A, B.subarray(1), C, false)).toThrow(RangeError);
      expect(() => kernels.gemm(false, false, 2, 2, 3, A, B, C.subarray(1), false)).toThrow(RangeError);
    });
  });
}

// ------------------------------------------------ optional element-wise passes --

const SPECIALS = [NaN, -0, 0, Infinity, -Infinity, 1e-45, -1e-45, 3.4e38, -3.4e38, 1.1754942e-38];

/** Normals with specials sprinkled in (every `every`-th element), deterministic. */
function mixedFill(a: Float32Array, seed: number, every = 7): Float32Array {
  randomFill(a, seed);
  for (let i = 0; i < a.length; i++) {
    a[i] *= 3;
    if (every > 0 && i % every === 3) a[i] = SPECIALS[(i / every + seed) % SPECIALS.length | 0];
  }
  return a;
}

/** Index of the first element whose bits differ (NaN = NaN whatever the payload: engines may canonicalise it); −1 if none. */
function firstDifference(got: Float32Array, want: Float32Array): number {
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < got.length; i++) {
    if (g[i] !== w[i] && !(Number.isNaN(got[i]) && Number.isNaN(want[i]))) return i;
  }
  return -1;
}

/**
 * The optional element-wise passes (Kernels.relu, reluBackwardColSums, axpy, momentum, adam):
 * each must give exactly the bits of core's JS reference (jsElementwise), on
 * buffers from alloc and on plain arrays alike. Skipped, saying so, for a
 * kernel set that does not implement one.
 */
export function describeElementwiseConformance(name: string, make: () => Kernels): void {
  const has = make();
  describe(`${name}: optional element-wise passes give the JS reference's bits`, () => {
    const inputs = (kernels: Kernels, inside: boolean, len: number) => (inside ? kernels.alloc(len) : new Float32Array(len));

    test.skipIf(has.relu === undefined)('relu (NaN, ±0, ±∞, subnormals; lengths 0 to 1001; only the first length elements)', () => {
      const kernels = make();
      for (const inside of [true, false]) {
        for (const [len, pad] of [[0, 3], [1, 0], [3, 2], [4, 0], [5, 1], [17, 4], [1001, 3]]) {
          const x = mixedFill(inputs(kernels, inside, len + pad), len * 13 + pad);
          const want = x.slice();
          jsElementwise.relu(len, want);
          kernels.relu!(len, x);
          expect(firstDifference(x, want), `length ${len}`).toBe(-1);
        }
      }
    });

    test.skipIf(has.reluBackwardColSums === undefined)('reluBackwardColSums: masked d and column sums in double (ragged shapes, specials in a and d)', () => {
      const kernels = make();
      for (const inside of [true, false]) {
        for (const [rows, cols] of [[1, 1], [3, 5], [7, 17], [64, 128], [33, 10], [2, 33], [0, 7], [5, 0], [256, 3]]) {
          const a = mixedFill(inputs(kernels, inside, rows * cols), rows + 7 * cols, 5);
          const d = mixedFill(inputs(kernels, inside, rows * cols), rows * 3 + cols, rows > 30 ? 0 : 11);
          const out = mixedFill(inputs(kernels, inside, cols + 2), 9).subarray(1, cols + 1); // an offset view, garbage in it
          const dWant = d.slice();
          const outWant = out.slice();
          jsElementwise.reluBackwardColSums(rows, cols, a, dWant, outWant);
          kernels.reluBackwardColSums!(rows, cols, a, d, out);
          expect(firstDifference(d, dWant), `${rows}×${cols} d`).toBe(-1);
          expect(firstDifference(out, outWant), `${rows}×${cols} out`).toBe(-1);
        }
      }
    });

    test.skipIf(has.axpy === undefined)('axpy: product and sum in double, one rounding (alphas with inexact products, overflow, 0)', () => {
      const kernels = make();
      for (const inside of [true, false]) {
        for (const len of [0, 1, 3, 4, 5, 17, 1003, 101_770]) {
          for (const alpha of [-0.01 / 64, 1, -3.3e-5, 0, 1e30, -(2 ** -20) * 0.1]) {
            const x = mixedFill(inputs(kernels, inside, len), len + 1, len > 2000 ? 0 : 7);
            const y = mixedFill(inputs(kernels, inside, len + 1), len + 2, len > 2000 ? 0 : 5);
            const want = y.slice();
            jsElementwise.axpy(len, alpha, x, want);
            kernels.axpy!(len, alpha, x, y);
            expect(firstDifference(y, want), `length ${len}, alpha ${alpha}`).toBe(-1);
          }
        }
      }
    });

    // Only for the sets that have one (WASM does not: the optimizer runs in Node, on native or the JS reference).
    if (has.momentum !== undefined) test("momentum: velocity in double stored rounded, the parameter step from the unrounded velocity (the MNIST recipe's and odd scales, specials)", () => {
      const kernels = make();
      for (const inside of [true, false]) {
        for (const len of [0, 1, 3, 4, 5, 17, 1003, 101_770]) {
          for (const [mu, scale, lr] of [[0.9, 1 / 64, 0.1], [0.99, 1 / 256, 3.3e-5], [0, 1, 1], [0.5, 1e30, 1e-30], [0.9, 2 ** -20, 0.07]] as const) {
            const g = mixedFill(inputs(kernels, inside, len), len + 1, len > 2000 ? 0 : 7);
            const v = mixedFill(inputs(kernels, inside, len + 1), len + 2, len > 2000 ? 0 : 5);
            const p = mixedFill(inputs(kernels, inside, len + 1), len + 3, len > 2000 ? 0 : 3);
            const vWant = v.slice();
            const pWant = p.slice();
            jsElementwise.momentum(len, mu, scale, lr, g, vWant, pWant);
            kernels.momentum!(len, mu, scale, lr, g, v, p);
            expect(firstDifference(v, vWant), `v: length ${len}, mu ${mu}, scale ${scale}, lr ${lr}`).toBe(-1);
            expect(firstDifference(p, pWant), `params: length ${len}, mu ${mu}, scale ${scale}, lr ${lr}`).toBe(-1);
          }
        }
      }
    });

    if (has.adam !== undefined) test('adam: every operation of the JS reference in double, one rounding per store (power-of-two and odd batches, clipping, L2 and decoupled decay, specials)', () => {
      const kernels = make();
      const c = (B: number, clip: number, wd: number, shrink: number, b1: number, b2: number, lr: number, t: number, eps: number) =>
        Float64Array.of(B, clip, wd, shrink, b1, b2, lr, 1 - b1 ** t, 1 - b2 ** t, eps);
      const sets = [c(64, 1, 0, 1, 0.9, 0.999, 0.002, 1, 1e-8), c(3, 0.37, 0.01, 1, 0.9, 0.999, 1e-3, 7, 1e-8), c(256, 1, 0, 1 - 0.01 * 0.1, 0.8, 0.99, 0.01, 1000, 1e-6), c(1, 1e30, 1e-30, 1, 0, 0, 1, 2, 1e-300)];
      for (const inside of [true, false]) {
        for (const len of [0, 1, 3, 4, 5, 17, 1003, 101_770]) {
          sets.forEach((coef, k) => {
            const g = mixedFill(inputs(kernels, inside, len), len + 1, len > 2000 ? 0 : 7);
            const m = mixedFill(inputs(kernels, inside, len + 1), len + 2, len > 2000 ? 0 : 5);
            const v = mixedFill(inputs(kernels, inside, len + 1), len + 4, len > 2000 ? 0 : 4);
            for (let i = 0; i < v.length; i += 2) v[i] = Math.abs(v[i]!); // a second moment is ≥ 0; every other one stays signed (NaN roots)
            const p = mixedFill(inputs(kernels, inside, len + 1), len + 3, len > 2000 ? 0 : 3);
            const [mWant, vWant, pWant] = [m.slice(), v.slice(), p.slice()];
            jsElementwise.adam(len, coef, g, mWant, vWant, pWant);
            kernels.adam!(len, coef, g, m, v, p);
            expect(firstDifference(m, mWant), `m: length ${len}, set ${k}`).toBe(-1);
            expect(firstDifference(v, vWant), `v: length ${len}, set ${k}`).toBe(-1);
            expect(firstDifference(p, pWant), `params: length ${len}, set ${k}`).toBe(-1);
          });
        }
      }
    });

    test.skipIf(has.relu === undefined && has.reluBackwardColSums === undefined && has.axpy === undefined)(
      'the passes reject arrays shorter than the lengths given',
      () => {
        const kernels = make();
        const f = new Float32Array(6);
        if (kernels.relu) expect(() => kernels.relu!(7, f)).toThrow(RangeError);
        if (kernels.reluBackwardColSums) {
          expect(() => kernels.reluBackwardColSums!(2, 3, f.subarray(1), new Float32Array(6), new Float32Array(3))).toThrow(RangeError);
          expect(() => kernels.reluBackwardColSums!(2, 3, f, new Float32Array(5), new Float32Array(3))).toThrow(RangeError);
          expect(() => kernels.reluBackwardColSums!(2, 3, f, new Float32Array(6), new Float32Array(2))).toThrow(RangeError);
        }
        if (kernels.axpy) {
          expect(() => kernels.axpy!(6, 1, f.subarray(1), new Float32Array(6))).toThrow(RangeError);
          expect(() => kernels.axpy!(6, 1, f, new Float32Array(5))).toThrow(RangeError);
        }
        if (kernels.adam) expect(() => kernels.adam!(6, new Float64Array(10), f, new Float32Array(6), new Float32Array(5), new Float32Array(6))).toThrow(RangeError);
        if (kernels.momentum) {
          expect(() => kernels.momentum!(6, 0.9, 1, 1, f.subarray(1), new Float32Array(6), new Float32Array(6))).toThrow(RangeError);
          expect(() => kernels.momentum!(6, 0.9, 1, 1, f, new Float32Array(6), new Float32Array(5))).toThrow(RangeError);
        }
      },
    );
  });
}

/** A random block plan: leaves into random slots, random additions, random outputs. */
export function randomPlan(blocks: number, seed: number): BlockPlan {
  let s = seed >>> 0 || 1;
  const rnd = (k: number): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % k;
  };
  const slots = 1 + rnd(6);
  const ops: number[] = [];
  const written: number[] = [];
  for (let j = 0; j < blocks; j++) {
    const slot = rnd(slots);
    ops.push(PLAN_LEAF, j, slot);
    if (!written.includes(slot)) written.push(slot);
    if (written.length > 1 && rnd(10) < 7) {
      const [a, b] = [written[rnd(written.length)]!, written[rnd(written.length)]!];
      if (a !== b) ops.push(PLAN_ADD, a, b);
    }
  }
  const outs = Array.from({ length: 1 + rnd(written.length) }, () => written[rnd(written.length)]!);
  return { ops: Int32Array.from(ops), slots, outSlots: Int32Array.from(outs) };
}

/** The pairwise tree over `blocks` leaves, slots reused as it goes (the shape the engine's coverPlan gives). */
export function treePlan(blocks: number): BlockPlan {
  const ops: number[] = [];
  const free: number[] = [];
  let slots = 0;
  const value = (lo: number, n: number): number => {
    if (n === 1) {
      const s = free.pop() ?? slots++;
      ops.push(PLAN_LEAF, lo, s);
      return s;
    }
    const half = 2 ** Math.ceil(Math.log2(n)) / 2;
    const left = value(lo, Math.min(half, n));
    if (n <= half) return left;
    const right = value(lo + half, n - half);
    ops.push(PLAN_ADD, left, right);
    free.push(right);
    return left;
  };
  const root = value(0, blocks);
  return { ops: Int32Array.from(ops), slots: Math.max(slots, 1), outSlots: Int32Array.of(root) };
}

/**
 * Kernels.gemmTnBlocks against gemmTnBlocksReference on the same kernel set:
 * the fused form must give exactly the bits of one TN gemm per block plus
 * the plan's additions — at tile edges, with empty blocks and with blocks
 * longer than any k-block.
 */
export function describeBlocksConformance(name: string, make: () => Kernels): void {
  const bits = (a: Float32Array): string => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length), (x) => x.toString(16)).join(',');
  describe(`${name}: gemmTnBlocks (block plans fused into the weight-gradient gemm)`, () => {
    test('the bits of one TN gemm per block plus the plan\'s additions (gemmTnBlocksReference)', () => {
      const k = make();
      expect(k.gemmTnBlocks).toBeTypeOf('function');
      const shapes: Array<[number, number, number[]]> = [
        [1, 1, [1]],
        [7, 5, [3, 0, 4]],
        [13, 17, [32, 32, 32, 5]],
        [50, 33, [1, 2, 3, 4, 5, 6, 7, 8, 9]],
        [64, 48, [600, 17]],
        [131, 10, [32, 32, 32, 32, 32, 32, 32, 32]],
      ];
      let seed = 1;
      for (const [m, n, sizes] of shapes) {
        for (let trial = 0; trial < 4; trial++, seed++) {
          const bounds = Int32Array.from([0, ...sizes.map((_, i) => sizes.slice(0, i + 1).reduce((a, b) => a + b, 0))]);
          const rows = bounds.at(-1)!;
          const A = randomFill(k.alloc(rows * m), seed);
          const B = randomFill(new Float32Array(rows * n), seed + 99); // one operand in the kernels' memory, one outside
          for (let i = 0; i < A.length; i += 3) A[i] = 0; // sparse rows, like relu outputs
          // separate outputs; a balanced tree (where kernels fuse leaf + add); random plans
          const plan = trial === 0 ? separatePlan(sizes.length) : trial === 1 ? treePlan(sizes.length) : randomPlan(sizes.length, seed);
          const got = Array.from(plan.outSlots, (_, i) => (i % 2 ? k.alloc(m * n) : new Float32Array(m * n)).fill(5));
          k.gemmTnBlocks!(m, n, A, B, bounds, plan, got);
          const slots: Float32Array[] = [];
          const want = Array.from(plan.outSlots, () => new Float32Array(m * n));
          gemmTnBlocksReference(k, m, n, A, B, bounds, plan, want, (s) => (slots[s] ??= new Float32Array(m * n)));
          got.forEach((g, i) => expect(bits(g), `${name} ${m}×${n} blocks ${sizes} trial ${trial}`).toBe(bits(want[i]!)));
        }
      }
    });
  });
}
