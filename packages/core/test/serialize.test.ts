import { describe, expect, test } from 'vitest';
import { Optimizer, Rng, crc32, decodeModel, encodeModel, paramLayout, FORMAT_VERSION, type ModelSpec, type SavedModel } from '@gradmesh/core';
import { firstBitDifference } from './fixtures.js';

const spec: ModelSpec = { inputs: 5, layers: [{ units: 7, activation: 'leaky_relu' }, { units: 3, activation: 'softmax' }], loss: 'softmax_xent', leakySlope: 0.2 };
const P = paramLayout(spec).paramCount;

/** Arbitrary bit patterns: every float32 class, NaN payloads included. */
function randomBits(len: number, rng: Rng): Float32Array {
  const a = new Float32Array(len);
  const u = new Uint32Array(a.buffer);
  for (let i = 0; i < len; i++) u[i] = rng.nextU32();
  const specials = [0x80000000, 0x00000001, 0x007fffff, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffffffff, 0x00000000, 0x3f800000];
  specials.forEach((bits, i) => (u[i] = bits));
  return a;
}

function sample(withOptimizer = true): SavedModel {
  const rng = new Rng(99);
  const m: SavedModel = { spec, params: randomBits(P, rng), meta: { step: 1234, dataset: 'spirals', note: 'naïve — 数据 🚀' } };
  if (withOptimizer) {
    const opt = new Optimizer({ kind: 'adamw', lr: 0.001, weightDecay: 0.01, schedule: { kind: 'cosine', totalSteps: 1000 } }, P);
    opt.state.set(randomBits(2 * P, rng));
    opt.t = 17;
    m.optimizer = { config: opt.config, state: opt.state, t: opt.t };
  }
  return m;
}

describe('model files', () => {
  test('crc32 matches the standard check value', () => {
    expect(crc32(new Uint8Array([...'123456789'].map((c) => c.charCodeAt(0))))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    const bytes = new Uint8Array([1, 2, 3, 4, 5, 6]);
    expect(crc32(bytes.subarray(3), crc32(bytes.subarray(0, 3)))).toBe(crc32(bytes));
  });

  test('round-trip every bit: -0, subnormals, infinities, NaN payloads, optimizer state, meta', () => {
    const m = sample();
    const bytes = encodeModel(m);
    expect(String.fromCharCode(...bytes.subarray(0, 4))).toBe('GMSH');
    const back = decodeModel(bytes);
    expect(back.spec).toEqual(spec);
    expect(firstBitDifference(back.params, m.params)).toBe(-1);
    expect(back.optimizer!.config).toEqual(m.optimizer!.config);
    expect(back.optimizer!.t).toBe(17);
    expect(firstBitDifference(back.optimizer!.state, m.optimizer!.state)).toBe(-1);
    expect(back.meta).toEqual(m.meta);
    // arrays come back aligned and independent of the input bytes
    expect(back.params.byteOffset % 4).toBe(0);
    bytes.fill(0);
    expect(firstBitDifference(back.params, m.params)).toBe(-1);
  });

  test('round-trips without optimizer or meta, and from an unaligned copy', () => {
    const m = { spec, params: randomBits(P, new Rng(5)) };
    const bytes = encodeModel(m);
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    const back = decodeModel(shifted.subarray(3));
    expect(firstBitDifference(back.params, m.params)).toBe(-1);
    expect(back.optimizer).toBeUndefined();
    expect(back.meta).toBeUndefined();
  });

  test('the float arrays start 4-byte aligned in the file', () => {
    const bytes = encodeModel(sample());
    const headerLength = new DataView(bytes.buffer).getUint32(8, true);
    const at = (12 + headerLength + 3) & ~3;
    expect(new DataView(bytes.buffer).getFloat32(at, true)).toBe(-0);
  });

  test('refuses any single corrupted byte', () => {
    const bytes = encodeModel(sample());
    const rng = new Rng(3);
    const positions = [0, 5, 9, 13, 40, bytes.length - 200, bytes.length - 5, bytes.length - 1];
    for (let i = 0; i < 20; i++) positions.push(rng.below(bytes.length));
    for (const at of positions) {
      const bad = bytes.slice();
      bad[at] ^= 1 << rng.below(8);
      expect(() => decodeModel(bad), `byte ${at}`).toThrow(/not a readable gradmesh model/);
    }
  });

  test('refuses truncated or extended buffers', () => {
    const bytes = encodeModel(sample());
    for (const len of [0, 3, 15, 100, bytes.length - 4, bytes.length - 1]) {
      expect(() => decodeModel(bytes.slice(0, len)), `length ${len}`).toThrow(/not a readable gradmesh model/);
    }
    const longer = new Uint8Array(bytes.length + 4);
    longer.set(bytes);
    expect(() => decodeModel(longer)).toThrow(/not a readable gradmesh model/);
  });

  test('names the reason: wrong magic, another version, a checksum mismatch', () => {
    const bytes = encodeModel(sample(false));
    const magic = bytes.slice();
    magic[0] = 'X'.charCodeAt(0);
    expect(() => decodeModel(magic)).toThrow(/bad magic/);
    const version = bytes.slice();
    new DataView(version.buffer).setUint32(4, FORMAT_VERSION + 1, true);
    expect(() => decodeModel(version)).toThrow(/format version 2, this build reads version 1/);
    const flipped = bytes.slice();
    flipped[bytes.length - 10] ^= 0xff;
    expect(() => decodeModel(flipped)).toThrow(/checksum mismatch/);
  });

  test('refuses to write params or state that do not fit the spec', () => {
    expect(() => encodeModel({ spec, params: new Float32Array(P - 1) })).toThrow(/params has/);
    expect(() => encodeModel({ spec, params: new Float32Array(P), optimizer: { config: { kind: 'adam', lr: 1 }, state: new Float32Array(P), t: 0 } })).toThrow(/optimizer state has/);
  });
});
