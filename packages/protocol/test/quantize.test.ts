import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  INT8_BLOCK, allocQuantized, decodeF16, decodeInt8, dequantize, encodeF16, encodeInt8, f16ToF32, f32ToF16, int8ScaleCount,
  quantize, quantizedRows, roundHalfEven,
} from '../src/index.js';

// ---- an independent reference: every half as a float64, and the nearest one by search ----

/** A half's value computed in float64 from its fields (no bit tricks). */
function halfValue(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  if (exp === 0) return sign * mant * Math.pow(2, -24);
  return sign * (1 + mant / 1024) * Math.pow(2, exp - 15);
}

/** The non-negative finite halves in increasing order: codes 0x0000..0x7bff. */
const POSITIVE = Array.from({ length: 0x7c00 }, (_, h) => halfValue(h));

/** Round to nearest, ties to the even code, by search over all halves; overflow at 65520 (half-way past 65504). */
function referenceHalf(x: number): number {
  if (Number.isNaN(x)) return -1; // any NaN; checked separately
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00;
  let lo = 0;
  let hi = POSITIVE.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (POSITIVE[mid]! <= a) lo = mid;
    else hi = mid;
  }
  if (a >= POSITIVE[hi]!) return sign | hi;
  const dLo = a - POSITIVE[lo]!;
  const dHi = POSITIVE[hi]! - a;
  if (dLo < dHi) return sign | lo;
  if (dHi < dLo) return sign | hi;
  return sign | (lo % 2 === 0 ? lo : hi);
}

const f32 = (bits: number) => new Float32Array(new Uint32Array([bits]).buffer)[0]!;
const hex = (x: number) => x.toString(16);

/** The inputs whose result differs from the expected one (one assertion per loop: expect() per element is slow). */
function mismatches<T>(inputs: Iterable<T>, got: (x: T) => unknown, want: (x: T) => unknown): string[] {
  const bad: string[] = [];
  for (const x of inputs) {
    const g = got(x);
    const w = want(x);
    if (!Object.is(g, w)) bad.push(`${String(x)}: got ${String(g)}, want ${String(w)}`);
  }
  return bad.slice(0, 10);
}
const bitsOf = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** Float32 values that matter to halves: both sides of every rounding boundary, the range ends, specials. */
function edgeValues(): number[] {
  const out: number[] = [0, -0, Infinity, -Infinity, 65504, 65519.99, 65520, 65536, 1e9, 3.4e38, f32(1), f32(0x807fffff), 2 ** -24, 2 ** -25, 2 ** -26];
  for (let h = 0; h < 0x7c00; h += 7) {
    const v = POSITIVE[h]!;
    const next = POSITIVE[h + 1] ?? 65536;
    const mid = (v + next) / 2; // exactly representable in float32: a half has 11 significant bits
    for (const x of [v, mid, Math.fround(mid * (1 + 2 ** -23)), Math.fround(mid * (1 - 2 ** -24))]) out.push(x, -x);
  }
  // Subnormal halves: every code, and the ties between them.
  for (let m = 0; m < 1024; m++) out.push((m + 0.5) * 2 ** -24, -(m + 0.5) * 2 ** -24);
  return out;
}

describe('fp16', () => {
  test('f32ToF16 matches the float64 reference: rounding boundaries, ties to even, subnormals, overflow to Inf', () => {
    expect(mismatches(edgeValues(), f32ToF16, (x) => referenceHalf(Math.fround(x)))).toEqual([]);
    expect(f32ToF16(2 ** -25)).toBe(0); // the tie below the smallest subnormal rounds to even: 0
    expect(f32ToF16(3 * 2 ** -25)).toBe(2); // 1.5 units: tie to even, 2
    expect(f32ToF16(65519)).toBe(0x7bff);
    expect(f32ToF16(65520)).toBe(0x7c00);
    expect(f32ToF16(-65520)).toBe(0xfc00);
    expect(f32ToF16(-0)).toBe(0x8000);
  });

  test('f32ToF16 matches the reference for random float32 bit patterns and random values near the half range', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (bits) => {
        const x = f32(bits);
        if (Number.isNaN(x)) return;
        expect(f32ToF16(x)).toBe(referenceHalf(x));
      }),
      { numRuns: 20_000 },
    );
    fc.assert(
      fc.property(fc.double({ min: -70000, max: 70000, noNaN: true }), fc.integer({ min: -30, max: 0 }), (v, e) => {
        const x = Math.fround(v * 2 ** e);
        expect(f32ToF16(x)).toBe(referenceHalf(x));
      }),
      { numRuns: 20_000 },
    );
  });

  test('NaN stays NaN with its sign; ±Inf stay ±Inf', () => {
    for (const bits of [0x7fc00000, 0x7f800001, 0xffc12345, 0x7fffffff]) {
      const h = f32ToF16(f32(bits));
      expect((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0, bits.toString(16)).toBe(true);
      expect(h & 0x8000).toBe(bits & 0x80000000 ? 0x8000 : 0);
    }
    expect(f32ToF16(Infinity)).toBe(0x7c00);
    expect(f32ToF16(-Infinity)).toBe(0xfc00);
  });

  test('f16ToF32 is exact for all 65,536 halves, and converting back gives the same half', () => {
    const all = Array.from({ length: 0x10000 }, (_, h) => h);
    expect(mismatches(all, f16ToF32, halfValue)).toEqual([]);
    expect(mismatches(all.filter((h) => !Number.isNaN(halfValue(h))), (h) => f32ToF16(f16ToF32(h)), (h) => h)).toEqual([]);
  });

  test('the vector codec agrees with the scalar one (its inline fast paths included); finite overflow saturates at ±65504', () => {
    const values = new Float32Array([...edgeValues(), ...Array.from({ length: 5000 }, (_, i) => Math.sin(i) * 2 ** ((i % 60) - 40))]);
    const halves = new Uint16Array(values.length);
    encodeF16(values, halves);
    const saturated = (x: number): number => {
      const h = f32ToF16(x);
      return Number.isFinite(x) && (h & 0x7fff) === 0x7c00 ? (h & 0x8000) | 0x7bff : h;
    };
    expect(mismatches(values.keys(), (i) => halves[i], (i) => saturated(values[i]!))).toEqual([]);
    const all = Uint16Array.from({ length: 0x10000 }, (_, h) => h);
    const back = new Float32Array(all.length);
    decodeF16(all, back);
    const bits = bitsOf(back);
    // NaN payloads kept: the half's 10 payload bits at the top of the float32's 23.
    const want = (h: number): number =>
      (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0 ? (((h & 0x8000) << 16) | 0x7f800000 | ((h & 0x3ff) << 13)) >>> 0 : bitsOf(new Float32Array([f16ToF32(h)]))[0]!;
    expect(mismatches(all, (h) => hex(bits[h]!), (h) => hex(want(h)))).toEqual([]);
  });
});

describe('int8', () => {
  test('round half to even', () => {
    expect([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.4999, 2.5001, -2.5001, 126.5, -126.5].map(roundHalfEven)).toEqual([-2, -2, 0, 0, 2, 2, 2, 3, -3, 126, -126]);
  });

  test('every value within scale/2 of its decoded value; codes within ±127; one scale = maxabs/127 per block of 256', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 * INT8_BLOCK + 17 }),
        fc.integer({ min: -40, max: 20 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        (n, e, seed) => {
          const src = Float32Array.from({ length: n }, (_, i) => Math.sin(seed + i * 1.7) * 2 ** e * (1 + (i % 5)));
          const q = new Int8Array(n);
          const scales = new Float32Array(int8ScaleCount(n));
          encodeInt8(src, q, scales);
          const out = new Float32Array(n);
          decodeInt8(q, scales, out);
          const maxabs = (b: number) => Math.max(...Array.from(src.subarray(b * INT8_BLOCK, (b + 1) * INT8_BLOCK), Math.abs));
          expect(mismatches(scales.keys(), (b) => scales[b], (b) => Math.fround(maxabs(b) / 127))).toEqual([]);
          expect(q.every((c) => Math.abs(c) <= 127)).toBe(true);
          // scale/2, plus the float32 rounding of code·scale.
          const within = (i: number) => Math.abs(src[i]! - out[i]!) <= scales[Math.floor(i / INT8_BLOCK)]! / 2 + Math.abs(out[i]!) * 2 ** -24;
          expect(mismatches(src.keys(), within, () => true)).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('ties go to the even code; an all-zero block is scale 0; a NaN or ±Inf makes its block (only) NaN', () => {
    const src = new Float32Array(2 * INT8_BLOCK + 3);
    src.set([127, 0.5, 1.5, 2.5, -0.5, -2.5, -127]);
    src[INT8_BLOCK + 5] = Number.NaN;
    src[2 * INT8_BLOCK] = -Infinity;
    const q = new Int8Array(src.length);
    const scales = new Float32Array(3);
    encodeInt8(src, q, scales);
    expect(scales[0]).toBe(1);
    expect(Array.from(q.subarray(0, 7))).toEqual([127, 0, 2, 2, 0, -2, -127]);
    expect(scales[1]).toBeNaN();
    expect(scales[2]).toBeNaN();
    const out = new Float32Array(src.length);
    decodeInt8(q, scales, out);
    expect(out.subarray(INT8_BLOCK).every(Number.isNaN)).toBe(true);
    const zeros = new Float32Array(10);
    const zs = new Float32Array(1);
    encodeInt8(zeros, new Int8Array(10), zs);
    expect(zs[0]).toBe(0);
  });
});

describe('decoding is deterministic', () => {
  test('each decoded value is code·scale rounded once to float32, and a half decodes to its exact value: the same bits in any engine', () => {
    const n = 3 * INT8_BLOCK + 11;
    const src = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.37) * 10 ** ((i % 7) - 4));
    const q = allocQuantized('int8', n);
    quantize(src, q);
    const a = new Float32Array(n);
    const b = new Float32Array(n);
    dequantize(q, a);
    dequantize(q, b);
    expect(bitsOf(a)).toEqual(bitsOf(b));
    if (q.kind !== 'int8') throw new Error('unreachable');
    expect(mismatches(a.keys(), (i) => a[i], (i) => Math.fround(q.i8[i]! * q.scale[Math.floor(i / INT8_BLOCK)]!))).toEqual([]);
    const h = allocQuantized('fp16', n);
    quantize(src, h);
    dequantize(h, a);
    if (h.kind !== 'fp16') throw new Error('unreachable');
    expect(mismatches(a.keys(), (i) => a[i], (i) => halfValue(h.f16[i]!))).toEqual([]);
  });

  test('rows are independent vectors: int8 blocks restart at every row', () => {
    const P = INT8_BLOCK + 10;
    const rows = Float32Array.from({ length: 3 * P }, (_, i) => (i < P ? 1000 : 0.001) * Math.sin(i));
    const q = allocQuantized('int8', P, 3);
    for (let r = 0; r < 3; r++) quantize(rows.subarray(r * P, (r + 1) * P), quantizedRows(q, r, r + 1, P));
    const alone = allocQuantized('int8', P);
    quantize(rows.subarray(2 * P), alone);
    const row2 = quantizedRows(q, 2, 3, P);
    if (row2.kind !== 'int8' || alone.kind !== 'int8') throw new Error('unreachable');
    expect(Array.from(row2.i8)).toEqual(Array.from(alone.i8));
    expect(Array.from(row2.scale)).toEqual(Array.from(alone.scale));
  });
});
