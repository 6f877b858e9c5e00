import { describe, expect, it } from 'vitest';
import { gatherBatch, spirals } from '../src/index.js';

describe('gatherBatch', () => {
  it('copies the selected rows in order into the batch buffers', () => {
    const ds = spirals({ n: 10 });
    const idx = Uint32Array.from([7, 0, 29, 7]);
    const x = new Float32Array(4 * 2);
    const y = new Float32Array(4 * 3);
    gatherBatch(ds.train, idx, x, y);
    idx.forEach((r, i) => {
      expect(Array.from(x.subarray(i * 2, i * 2 + 2))).toEqual(Array.from(ds.train.x.subarray(r * 2, r * 2 + 2)));
      expect(Array.from(y.subarray(i * 3, i * 3 + 3))).toEqual(Array.from(ds.train.y.subarray(r * 3, r * 3 + 3)));
    });
  });

  it('accepts larger buffers and leaves the rest untouched', () => {
    const ds = spirals({ n: 10 });
    const x = new Float32Array(8).fill(9);
    const y = new Float32Array(12).fill(9);
    gatherBatch(ds.train, [1], x, y);
    expect(Array.from(x.subarray(2))).toEqual([9, 9, 9, 9, 9, 9]);
  });

  it('rejects out-of-range indices and short buffers', () => {
    const ds = spirals({ n: 10 });
    expect(() => gatherBatch(ds.train, [30], new Float32Array(2), new Float32Array(3))).toThrow(/index 30 at position 0 is outside 0..29/);
    expect(() => gatherBatch(ds.train, [1, 2], new Float32Array(2), new Float32Array(6))).toThrow(/need 2/);
  });
});
