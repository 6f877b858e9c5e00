import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Dataset,
  DatasetError,
  decodeDatasetBinary,
  encodeDatasetBinary,
  sine,
  spirals,
  xor,
} from '../src/index.js';

const bitsOf = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** Bit-exact equality (distinguishes −0 from 0, unlike toEqual on numbers). */
function expectSameBits(a: Dataset, b: Dataset): void {
  expect({ ...a, train: undefined, test: undefined }).toEqual({ ...b, train: undefined, test: undefined });
  for (const s of ['train', 'test'] as const) {
    expect(a[s].n).toBe(b[s].n);
    expect(bitsOf(a[s].x)).toEqual(bitsOf(b[s].x));
    expect(bitsOf(a[s].y)).toEqual(bitsOf(b[s].y));
  }
}

function regression(x: number[], inputs: number): Dataset {
  const n = x.length / inputs;
  return {
    name: 'r',
    inputs,
    outputs: 1,
    task: 'regression',
    train: { n, x: Float32Array.from(x), y: Float32Array.from({ length: n }, (_, i) => i - 0.5) },
    test: { n: 0, x: new Float32Array(0), y: new Float32Array(0) },
  };
}

describe('GMDS binary', () => {
  it('round-trips generated datasets bit for bit', () => {
    for (const ds of [xor(), spirals({ seed: 2 }), sine({ n: 50 })]) expectSameBits(decodeDatasetBinary(encodeDatasetBinary(ds)), ds);
  });

  it('round-trips arbitrary float32 features, −0 and NaN-free extremes included', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ noNaN: true }), { minLength: 3, maxLength: 600 }), (values) => {
        const x = values.slice(0, values.length - (values.length % 3));
        const ds = regression(x, 3);
        expectSameBits(decodeDatasetBinary(encodeDatasetBinary(ds)), ds);
      }),
    );
  });

  it('stores features with at most 256 distinct values as one byte each, exactly', () => {
    const levels = Array.from({ length: 256 }, (_, k) => Math.round((k * 1000) / 255) / 1000);
    const x = Array.from({ length: 4096 }, (_, i) => levels[(i * 37) % 256]);
    const ds = regression(x, 64);
    const small = encodeDatasetBinary(ds);
    expect(small.length).toBeLessThan(4096 + 2048);
    expectSameBits(decodeDatasetBinary(small), ds);
    // One more distinct value: float32 storage, still exact.
    const wide = regression([...x.slice(0, 4032), ...Array.from({ length: 64 }, (_, i) => 2 + i)], 64);
    expect(encodeDatasetBinary(wide).length).toBeGreaterThan(4 * 4096);
    expectSameBits(decodeDatasetBinary(encodeDatasetBinary(wide)), wide);
  });

  it('keeps soft (not one-hot) classification targets as float32', () => {
    const ds = xor();
    ds.train.y[0] = 0.9;
    ds.train.y[1] = 0.1;
    expectSameBits(decodeDatasetBinary(encodeDatasetBinary(ds)), ds);
  });

  it('handles more than 256 classes (uint16 labels) and unicode class names', () => {
    const classes = Array.from({ length: 300 }, (_, i) => `klasse-${i}-é✓`);
    const labels = [0, 299, 5, 256];
    const y = new Float32Array(4 * 300);
    labels.forEach((l, i) => (y[i * 300 + l] = 1));
    const ds: Dataset = {
      name: 'many',
      inputs: 1,
      outputs: 300,
      task: 'classification',
      classes,
      train: { n: 4, x: Float32Array.from([1, 2, 3, 4]), y },
      test: { n: 0, x: new Float32Array(0), y: new Float32Array(0) },
    };
    expectSameBits(decodeDatasetBinary(encodeDatasetBinary(ds)), ds);
  });

  it('is deterministic: the same dataset encodes to the same bytes', () => {
    expect(encodeDatasetBinary(spirals())).toEqual(encodeDatasetBinary(spirals()));
  });

  it('decodes from an unaligned view (as Node Buffers often are)', () => {
    const bytes = encodeDatasetBinary(sine({ n: 20 }));
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    expectSameBits(decodeDatasetBinary(shifted.subarray(1)), sine({ n: 20 }));
  });

  it('rejects wrong magic, newer versions, truncation and corruption with BAD_BINARY', () => {
    const good = encodeDatasetBinary(spirals());
    const expectBad = (bytes: Uint8Array, message: RegExp) => {
      let caught: unknown;
      try {
        decodeDatasetBinary(bytes);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(DatasetError);
      expect((caught as DatasetError).code).toBe('BAD_BINARY');
      expect((caught as Error).message).toMatch(message);
    };
    expectBad(new Uint8Array(10), /shorter than the 48-byte header/);
    expectBad(Uint8Array.from(good, (b, i) => (i === 0 ? 0x58 : b)), /magic/);
    const newer = good.slice();
    newer[4] = 2;
    expectBad(newer, /version 2/);
    expectBad(good.subarray(0, good.length - 4), /truncated/);
    const flipped = good.slice();
    flipped[good.length - 10] ^= 1;
    expectBad(flipped, /CRC-32 mismatch/);
  });
});

describe('GMDS encoding checks its input', () => {
  it('refuses a dataset whose arrays do not match its shape', () => {
    const ds = xor();
    ds.train.x = new Float32Array(7);
    expect(() => encodeDatasetBinary(ds)).toThrow('dataset "xor": train.x has 7 values, expected 4×2');
  });
});
