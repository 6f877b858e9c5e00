import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { buildCover, coverRanges, reduceNodes, treeDepth, type TreeNode } from '../src/tree.js';

function leaves(m: number, p: number, seed: number): Float32Array[] {
  let s = seed >>> 0;
  const rnd = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 2 ** ((s % 40) - 20);
  };
  return Array.from({ length: m }, () => Float32Array.from({ length: p }, rnd));
}

const bits = (f: Float32Array): string => Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('hex');

function cutPoints(m: number, cuts: number[]): Array<[number, number]> {
  const pts = [...new Set(cuts.map((c) => c % (m + 1)))].sort((x, y) => x - y).filter((c) => c > 0 && c < m);
  const bounds = [0, ...pts, m];
  return bounds.slice(1).map((hi, i) => [bounds[i]!, hi]);
}

describe('canonical reduction tree', () => {
  test('cover of [a, b) tiles it with canonical nodes, one node when aligned', () => {
    expect(coverRanges(8, 0, 8)).toEqual([[0, 8]]);
    expect(coverRanges(8, 0, 4)).toEqual([[0, 4]]);
    expect(coverRanges(8, 3, 8)).toEqual([[3, 4], [4, 8]]);
    expect(coverRanges(5, 4, 5)).toEqual([[4, 5]]);
    expect(coverRanges(5, 0, 5)).toEqual([[0, 5]]);
    expect(treeDepth(5)).toBe(3);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.nat(), fc.nat(), (m, x, y) => {
        const a = x % (m + 1);
        const b = a + (y % (m - a + 1));
        const cover = coverRanges(m, a, b);
        let at = a;
        for (const [lo, hi] of cover) {
          expect(lo).toBe(at);
          expect(hi).toBeGreaterThan(lo);
          at = hi;
        }
        expect(at).toBe(b);
        expect(cover.length).toBeLessThanOrEqual(2 * treeDepth(m) + 1);
      }),
    );
  });

  test('any partition of the micro-batches reduces to the same bits as one process', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.integer(),
        (m, cuts, seed) => {
          const p = 7;
          const ls = leaves(m, p, seed);
          const fresh = (j: number): { loss: number; grad: Float32Array } => ({ loss: j * 0.1 + 1 / 3, grad: ls[j]!.slice() });
          const [whole] = buildCover(m, 0, m, fresh);
          const parts: TreeNode[] = [];
          // Arrival order reversed on purpose: order must not matter.
          for (const [a, b] of cutPoints(m, cuts).reverse()) parts.push(...buildCover(m, a, b, fresh));
          const [merged] = reduceNodes(m, 0, m, parts);
          expect(merged!.lo).toBe(0);
          expect(merged!.hi).toBe(m);
          expect(bits(merged!.grad)).toBe(bits(whole!.grad));
          expect(merged!.loss).toBe(whole!.loss);
          // And it is the sum, up to float rounding.
          for (let i = 0; i < p; i++) {
            const exact = ls.reduce((acc, l) => acc + l[i]!, 0);
            expect(Math.abs(merged!.grad[i]! - exact)).toBeLessThanOrEqual(1e-5 * ls.reduce((acc, l) => acc + Math.abs(l[i]!), 0) + 1e-30);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a missing or duplicated micro-batch is an error, never a silent wrong sum', () => {
    const g = (): Float32Array => new Float32Array(2);
    const parts = buildCover(8, 0, 4, () => ({ loss: 0, grad: g() }));
    expect(() => reduceNodes(8, 0, 8, parts)).toThrow(/missing/);
    const dup = [...buildCover(8, 0, 8, () => ({ loss: 0, grad: g() })), ...buildCover(8, 0, 4, () => ({ loss: 0, grad: g() }))];
    expect(() => reduceNodes(8, 0, 8, dup)).toThrow(/outside|overlaps/);
  });
});

describe('TreeAccumulator', () => {
  test('nodes folded in any arrival order give the one-process bits', async () => {
    const { TreeAccumulator } = await import('../src/tree.js');
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.array(fc.nat(), { maxLength: 8 }), fc.integer(), fc.integer(), (m, cuts, seed, shuffle) => {
        const ls = leaves(m, 5, seed);
        const fresh = (j: number): { loss: number; grad: Float32Array } => ({ loss: j / 7, grad: ls[j]!.slice() });
        const [whole] = buildCover(m, 0, m, fresh);
        const parts: TreeNode[] = [];
        for (const [a, b] of cutPoints(m, cuts)) parts.push(...buildCover(m, a, b, fresh));
        let s = shuffle >>> 0;
        for (let i = parts.length - 1; i > 0; i--) {
          s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
          const j = s % (i + 1);
          [parts[i], parts[j]] = [parts[j]!, parts[i]!];
        }
        const acc = new TreeAccumulator(m);
        for (const p of parts) {
          expect(acc.complete).toBe(false);
          acc.add(p);
        }
        expect(acc.complete).toBe(true);
        expect(bits(acc.root().grad)).toBe(bits(whole!.grad));
        expect(acc.root().loss).toBe(whole!.loss);
        expect(acc.held).toBe(1);
      }),
      { numRuns: 300 },
    );
  });
});

describe('the tree add on SIMD kernels', () => {
  test('kernelAdd (wasm, native axpy with α = 1) gives the bits of the JS loop, edge cases included', async () => {
    const { addInto, kernelAdd } = await import('../src/tree.js');
    const { createWasmKernels } = await import('@gradmesh/kernels-wasm');
    const { tryLoadNativeKernels } = await import('@gradmesh/kernels-native');
    const sets: Array<{ name: string; kernels: { alloc(n: number): Float32Array; axpy?: (n: number, a: number, x: Float32Array, y: Float32Array) => void } }> = [
      { name: 'wasm', kernels: createWasmKernels({ initialMiB: 16 }) },
    ];
    const native = tryLoadNativeKernels().kernels;
    if (native) sets.push({ name: native.name, kernels: native });
    else console.log('tree add: native kernels skipped (addon not built)');
    const special = [0, -0, 1, -1, 2 ** -149, -(2 ** -149), 2 ** -126, 3.4028234663852886e38, -3.4028234663852886e38, Infinity, -Infinity, NaN, 1 + 2 ** -23, 2 ** 24, 2 ** 60];
    for (const { name, kernels } of sets) {
      const add = kernelAdd(kernels);
      expect(add, name).not.toBe(addInto);
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 300 }), fc.integer(), (n, seed) => {
          const [a, b] = leaves(2, n, seed);
          for (let i = 0; i < n; i += 7) a![i] = special[(i + seed) % special.length >>> 0]!;
          for (let i = 3; i < n; i += 5) b![i] = special[(i * 3 + seed) % special.length >>> 0]!;
          // In the kernels' own memory and outside it, at odd offsets (unaligned SIMD).
          const x = kernels.alloc(n + 1).subarray(1);
          const y = kernels.alloc(n + 1).subarray(1);
          x.set(a!);
          y.set(b!);
          const ref = a!.slice();
          addInto(ref, b!);
          add(x, y);
          expect(bits(x)).toBe(bits(ref));
          const plain = a!.slice();
          add(plain, b!);
          expect(bits(plain)).toBe(bits(ref));
        }),
        { numRuns: 200, seed: 11 },
      );
    }
  });
});

describe('coverPlan', () => {
  test("is buildCover's reduction as a block plan: same ranges, same additions, same bits", async () => {
    const { coverPlan } = await import('../src/tree.js');
    const { PLAN_LEAF, checkPlan } = await import('@gradmesh/core');
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 70 }), fc.nat(), fc.nat(), fc.integer(), (m, x, y, seed) => {
        const [a, b] = [x % (m + 1), y % (m + 1)].sort((p, q) => p - q) as [number, number];
        const ls = leaves(m, 6, seed);
        const { plan, ranges } = coverPlan(m, a, b);
        checkPlan(plan, b - a);
        expect(plan.slots).toBeLessThanOrEqual(2 * treeDepth(m) + 2);
        const slot: Float32Array[] = [];
        for (let i = 0; i < plan.ops.length; i += 3) {
          const [op, p, q] = [plan.ops[i]!, plan.ops[i + 1]!, plan.ops[i + 2]!];
          if (op === PLAN_LEAF) slot[q] = ls[a + p]!.slice();
          else for (let t = 0; t < 6; t++) slot[p]![t] += slot[q]![t]!;
        }
        const want = buildCover(m, a, b, (j) => ({ loss: 0, grad: ls[j]!.slice() }));
        expect(ranges).toEqual(want.map((n) => [n.lo, n.hi]));
        want.forEach((n, i) => expect(bits(slot[plan.outSlots[i]!]!)).toBe(bits(n.grad)));
      }),
      { numRuns: 400, seed: 5 },
    );
  });
});
