import { describe, expect, test } from 'vitest';
import { detmath as d } from '@gradmesh/core';
import { ulpDistance } from './ulp.js';

// An LCG independent of the Rng under test.
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

// x as an exact m·2^e (m, e integers).
function exact(x: number): [bigint, number] {
  const v = new DataView(new ArrayBuffer(8));
  v.setFloat64(0, x);
  const bits = v.getBigUint64(0);
  const expBits = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & 0xfffffffffffffn;
  return expBits === 0 ? [frac, -1074] : [frac | (1n << 52n), expBits - 1075];
}

// The double next to y (y > 0) upward or downward: its bit pattern ± 1.
function neighbour(y: number, up: boolean): number {
  const v = new DataView(new ArrayBuffer(8));
  v.setFloat64(0, y);
  v.setBigUint64(0, v.getBigUint64(0) + (up ? 1n : -1n));
  return v.getFloat64(0);
}

// Whether y is √x rounded to the nearest double: (y + its neighbours)/2, squared, bracket x exactly.
function isCorrectlyRoundedSqrt(x: number, y: number): boolean {
  if (!(x > 0) || !(y > 0)) return false;
  const [mx, ex] = exact(x);
  const [my, ey] = exact(y);
  const cmpMidSquare = (n: number): number => {
    // (y + n)/2 as a·2^k, then its square against x.
    const [mn, en] = exact(n);
    const k = Math.min(ey, en);
    const a = (my << BigInt(ey - k)) + (mn << BigInt(en - k)); // (y + n)·2^-k, so the midpoint is a·2^(k−1)
    const sq = a * a; // midpoint² = sq·2^(2k−2)
    const e = Math.min(2 * k - 2, ex);
    const l = sq << BigInt(2 * k - 2 - e);
    const r = mx << BigInt(ex - e);
    return l < r ? -1 : l > r ? 1 : 0;
  };
  return cmpMidSquare(neighbour(y, false)) <= 0 && cmpMidSquare(neighbour(y, true)) >= 0;
}

function worstUlps(fn: (x: number) => number, ref: (x: number) => number, gen: () => number, n = 50_000): { ulps: number; at: number } {
  let ulps = 0;
  let at = NaN;
  for (let i = 0; i < n; i++) {
    const x = gen();
    const u = ulpDistance(fn(x), ref(x));
    if (u > ulps) {
      ulps = u;
      at = x;
    }
  }
  return { ulps, at };
}

describe('detmath agrees with Math.* within a few ulps', () => {
  const r = lcg(1);
  const cases: [string, (x: number) => number, (x: number) => number, () => number, number][] = [
    ['exp over its whole finite range', d.exp, Math.exp, () => (r() - 0.5) * 1490, 1],
    ['exp near 0', d.exp, Math.exp, () => (r() - 0.5) * 1e-6, 1],
    ['exp into the subnormal results', d.exp, Math.exp, () => -708 - r() * 37, 1],
    ['log over all magnitudes', d.log, Math.log, () => Math.exp((r() - 0.5) * 1400), 1],
    ['log of subnormals', d.log, Math.log, () => r() * 2.2e-308, 1],
    ['log near 1', d.log, Math.log, () => 1 + (r() - 0.5) * 1e-4, 1],
    ['expm1', d.expm1, Math.expm1, () => (r() - 0.5) * 100, 4],
    ['expm1 near 0', d.expm1, Math.expm1, () => (r() - 0.5) * 1e-7, 4],
    ['log1p', d.log1p, Math.log1p, () => -0.9999 + r() * 1e3, 4],
    ['log1p near 0', d.log1p, Math.log1p, () => (r() - 0.5) * 1e-9, 4],
    ['log1p of huge values', d.log1p, Math.log1p, () => Math.exp(r() * 709), 4],
    ['tanh', d.tanh, Math.tanh, () => (r() - 0.5) * 60, 4],
    ['tanh near 0', d.tanh, Math.tanh, () => (r() - 0.5) * 1e-3, 6],
  ];
  for (const [name, fn, ref, gen, bound] of cases) {
    test(name, () => {
      const { ulps, at } = worstUlps(fn, ref, gen);
      expect(ulps, `worst at x = ${at}`).toBeLessThanOrEqual(bound);
    });
  }

  // sqrt's contract is stronger: the correctly rounded root (ECMA-262 pins it), checked in exact
  // integer arithmetic — the square of the midpoint to each neighbouring double lies on the far side of x.
  test.each([
    ['all magnitudes', () => Math.exp((r() - 0.5) * 1400)],
    ['subnormals', () => r() * 2.2e-308],
    ['near perfect squares', () => (1 + Math.floor(r() * 1e6)) ** 2 * (1 + (r() - 0.5) * 1e-15)],
    ['Adam\'s range (v/bc2 of small gradients)', () => r() ** 8 * 1e-6],
  ] as const)('sqrt is the correctly rounded root (%s)', (_name, gen) => {
    for (let i = 0; i < 20_000; i++) {
      const x = gen();
      expect(isCorrectlyRoundedSqrt(x, d.sqrt(x)), `sqrt(${x}) = ${d.sqrt(x)}`).toBe(true);
    }
  });

  test('sinPi and cosPi match sin/cos of π·x to double precision, and are exact at multiples of 1/2', () => {
    const g = lcg(2);
    let worst = 0;
    for (let i = 0; i < 50_000; i++) {
      const x = (g() - 0.5) * 200;
      // Math.sin(Math.PI * x) itself carries the rounding of π·x (≈ |πx|·2^-53).
      const tol = 4e-16 + Math.abs(Math.PI * x) * 2.3e-16;
      worst = Math.max(worst, Math.abs(d.sinPi(x) - Math.sin(Math.PI * x)) / tol, Math.abs(d.cosPi(x) - Math.cos(Math.PI * x)) / tol);
    }
    expect(worst).toBeLessThanOrEqual(1);
    expect(d.sinPi(1)).toBe(0);
    expect(d.sinPi(0.5)).toBe(1);
    expect(d.cosPi(1)).toBe(-1);
    expect(d.cosPi(0.5)).toBe(0);
    expect(d.cosPi(2e20)).toBe(1);
    expect(ulpDistance(d.sinPi(1 / 6), 0.5)).toBeLessThanOrEqual(1);
  });

  test('sigmoid, softplus and powInt keep their identities without overflow', () => {
    const g = lcg(3);
    let worstSig = 0;
    let worstSoftplus = 0;
    for (let i = 0; i < 10_000; i++) {
      const x = (g() - 0.5) * 100;
      worstSig = Math.max(worstSig, Math.abs(d.sigmoid(x) + d.sigmoid(-x) - 1));
      worstSoftplus = Math.max(worstSoftplus, Math.abs(d.softplus(x) - d.softplus(-x) - x) / Math.max(1, Math.abs(x)));
    }
    expect(worstSig).toBeLessThan(3e-16);
    expect(worstSoftplus).toBeLessThan(1e-15);
    expect(d.sigmoid(1000)).toBe(1);
    expect(d.sigmoid(-1000)).toBe(0);
    expect(d.softplus(1000)).toBe(1000);
    expect(d.softplus(-1000)).toBe(0);
    expect(d.powInt(0.999, 1000)).toBeCloseTo(Math.pow(0.999, 1000), 14);
    expect(d.powInt(2, 0)).toBe(1);
    expect(d.pow2(-1074)).toBe(5e-324);
    expect(d.pow2(1023)).toBe(2 ** 1023);
  });
});

describe('detmath special values', () => {
  test('exp', () => {
    expect(d.exp(NaN)).toBeNaN();
    expect(d.exp(Infinity)).toBe(Infinity);
    expect(d.exp(-Infinity)).toBe(0);
    expect(d.exp(0)).toBe(1);
    expect(d.exp(-0)).toBe(1);
    expect(d.exp(709.78)).toBe(Math.exp(709.78));
    expect(d.exp(710)).toBe(Infinity);
    expect(d.exp(-745.2)).toBe(0);
    expect(d.exp(-745)).toBe(5e-324);
  });
  test('log', () => {
    expect(d.log(NaN)).toBeNaN();
    expect(d.log(-1)).toBeNaN();
    expect(d.log(-Infinity)).toBeNaN();
    expect(d.log(0)).toBe(-Infinity);
    expect(d.log(-0)).toBe(-Infinity);
    expect(d.log(Infinity)).toBe(Infinity);
    expect(d.log(1)).toBe(0);
    expect(d.log(5e-324)).toBe(Math.log(5e-324));
    expect(d.log(Number.MAX_VALUE)).toBe(Math.log(Number.MAX_VALUE));
  });
  test('expm1, log1p, tanh, sqrt, sinPi', () => {
    expect(Object.is(d.expm1(-0), -0)).toBe(true);
    expect(d.expm1(Infinity)).toBe(Infinity);
    expect(d.expm1(-Infinity)).toBe(-1);
    expect(d.expm1(709)).toBe(Math.expm1(709));
    expect(d.log1p(-1)).toBe(-Infinity);
    expect(d.log1p(-2)).toBeNaN();
    expect(d.log1p(Infinity)).toBe(Infinity);
    expect(Object.is(d.log1p(-0), -0)).toBe(true);
    expect(d.tanh(Infinity)).toBe(1);
    expect(d.tanh(-Infinity)).toBe(-1);
    expect(Object.is(d.tanh(-0), -0)).toBe(true);
    expect(d.tanh(NaN)).toBeNaN();
    expect(d.sqrt(-1)).toBeNaN();
    expect(d.sqrt(NaN)).toBeNaN();
    expect(Object.is(d.sqrt(-0), -0)).toBe(true);
    expect(d.sqrt(Infinity)).toBe(Infinity);
    expect(d.sqrt(4)).toBe(2);
    expect(d.sqrt(2)).toBe(Math.SQRT2);
    expect(d.sinPi(Infinity)).toBeNaN();
    expect(d.cosPi(NaN)).toBeNaN();
  });
});
