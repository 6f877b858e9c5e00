import { describe, expect, test } from 'vitest';
import { Rng, permutation, shuffleInPlace } from '@gradmesh/core';

describe('Rng', () => {
  test('matches the reference C xoshiro128** seeded by splitmix32', () => {
    // From Blackman & Vigna's xoshiro128starstar.c, state words from
    // splitmix32(seed) (z += 0x9e3779b9; two xor-shift-multiply rounds), run once.
    const expected: Record<number, number[]> = {
      0: [1789933344, 44971166, 2521387044, 3848737593, 1138324114, 749234105],
      1: [393288148, 2174103013, 3814759091, 2092745082, 1865176206, 2179171167],
      42: [660444221, 3652823732, 77672526, 910233633, 2297337756, 3786072677],
      0xdeadbeef: [3842467093, 879304004, 3694663928, 2788030634, 934155191, 702880729],
    };
    for (const [seed, values] of Object.entries(expected)) {
      const r = new Rng(Number(seed));
      expect(values.map(() => r.nextU32())).toEqual(values);
    }
  });

  test('the same seed gives the same sequence; different seeds differ', () => {
    const a = new Rng(123);
    const b = new Rng(123);
    const c = new Rng(124);
    const sa = Array.from({ length: 1000 }, () => a.next());
    const sb = Array.from({ length: 1000 }, () => b.next());
    const sc = Array.from({ length: 1000 }, () => c.next());
    expect(sb).toEqual(sa);
    expect(sc.filter((v, i) => v === sa[i]).length).toBe(0);
  });

  test('state() / fromState() continues the exact sequence', () => {
    const a = new Rng(9);
    for (let i = 0; i < 17; i++) a.normal();
    const b = Rng.fromState(a.state());
    for (let i = 0; i < 100; i++) {
      expect(b.nextU32()).toBe(a.nextU32());
      expect(b.normal()).toBe(a.normal());
    }
    expect(() => Rng.fromState([0, 0, 0, 0])).toThrow(/all zero/);
    expect(() => Rng.fromState([1, 2, 3])).toThrow(/4 words/);
    expect(() => new Rng(1.5)).toThrow(/integer/);
  });

  test('next() is uniform on [0, 1): range, mean, variance, and a chi-square over 20 bins', () => {
    const r = new Rng(5);
    const N = 200_000;
    const bins = new Array(20).fill(0);
    let sum = 0;
    let sq = 0;
    let outside = 0;
    for (let i = 0; i < N; i++) {
      const u = r.next();
      if (!(u >= 0 && u < 1)) outside++;
      sum += u;
      sq += u * u;
      bins[Math.floor(u * 20)]++;
    }
    expect(outside).toBe(0);
    const mean = sum / N;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.005);
    expect(Math.abs(sq / N - mean * mean - 1 / 12)).toBeLessThan(0.002);
    const e = N / 20;
    const chi2 = bins.reduce((s, o) => s + (o - e) ** 2 / e, 0);
    expect(chi2).toBeLessThan(43.8); // 19 degrees of freedom, p = 0.001
  });

  test('normal() has mean 0, variance 1, the right tails and no skew', () => {
    const r = new Rng(77);
    const N = 200_000;
    let s1 = 0, s2 = 0, s3 = 0, s4 = 0, beyond2 = 0, nonFinite = 0;
    for (let i = 0; i < N; i++) {
      const z = r.normal();
      if (!Number.isFinite(z)) nonFinite++;
      s1 += z;
      s2 += z * z;
      s3 += z * z * z;
      s4 += z * z * z * z;
      if (Math.abs(z) > 2) beyond2++;
    }
    expect(nonFinite).toBe(0);
    expect(Math.abs(s1 / N)).toBeLessThan(0.01);
    expect(Math.abs(s2 / N - 1)).toBeLessThan(0.015);
    expect(Math.abs(s3 / N)).toBeLessThan(0.03);
    expect(Math.abs(s4 / N - 3)).toBeLessThan(0.1); // kurtosis of a normal
    expect(Math.abs(beyond2 / N - 0.0455)).toBeLessThan(0.003);
  });

  test('below(n) stays in range and is unbiased for a bound that does not divide 2^32', () => {
    const r = new Rng(3);
    const bound = 3;
    const counts = [0, 0, 0];
    for (let i = 0; i < 90_000; i++) counts[r.below(bound)]++;
    for (const c of counts) expect(Math.abs(c - 30_000)).toBeLessThan(600);
    expect(() => r.below(0)).toThrow(RangeError);
    let max = 0;
    for (let i = 0; i < 1000; i++) max = Math.max(max, r.below(4294967296));
    expect(max).toBeLessThan(4294967296);
    expect(max).toBeGreaterThan(2 ** 31); // the full range is used
  });
});

describe('permutation and shuffle', () => {
  test('permutation(n) holds every index exactly once', () => {
    const r = new Rng(11);
    for (const n of [0, 1, 2, 7, 1000]) {
      const p = permutation(n, r);
      expect(p.length).toBe(n);
      expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    }
  });

  test('all 6 orders of 3 items come up equally often', () => {
    const r = new Rng(12);
    const counts = new Map<string, number>();
    const N = 60_000;
    for (let i = 0; i < N; i++) {
      const key = shuffleInPlace(['a', 'b', 'c'], r).join('');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect(counts.size).toBe(6);
    for (const c of counts.values()) expect(Math.abs(c - N / 6)).toBeLessThan(400);
  });

  test('every item lands in every position equally often', () => {
    const r = new Rng(13);
    const n = 10;
    const hits = Array.from({ length: n }, () => new Array(n).fill(0));
    for (let t = 0; t < 20_000; t++) {
      const p = permutation(n, r);
      for (let i = 0; i < n; i++) hits[p[i]][i]++;
    }
    for (const row of hits) for (const c of row) expect(Math.abs(c - 2000)).toBeLessThan(200);
  });

  test('the same seed gives the same permutation', () => {
    expect(permutation(500, new Rng(4))).toEqual(permutation(500, new Rng(4)));
    expect(permutation(500, new Rng(4))).not.toEqual(permutation(500, new Rng(5)));
  });
});
