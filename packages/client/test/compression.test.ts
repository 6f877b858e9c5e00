import { describe, expect, test } from 'vitest';
import { dequantize, int8ScaleCount, quantizedRows, type Compression } from '@gradmesh/protocol';
import { WorkerCompression } from '../src/compression.js';

const P = 700; // not a multiple of the int8 block: every node ends in a partial block

/** A deterministic pseudo-random gradient: count nodes, values spread over several magnitudes. */
function gradient(step: number, count: number): Float32Array {
  return Float32Array.from({ length: count * P }, (_, i) => Math.sin(step * 7.1 + i * 0.37) * 10 ** ((i % 5) - 3));
}

/** What the coordinator gets back: the decoded values of every node. */
function decodeAll(c: WorkerCompression, grad: Float32Array, count: number): Float32Array {
  const q = c.encode(grad, count);
  const out = new Float32Array(count * P);
  for (let i = 0; i < count; i++) dequantize(quantizedRows(q, i, i + 1, P), out.subarray(i * P, (i + 1) * P));
  return out;
}

describe.each<Exclude<Compression, 'none'>>(['fp16', 'int8'])('error feedback (%s)', (kind) => {
  test('telescopes: over k messages, the decoded values add up to the true gradients minus the final residual', () => {
    const c = new WorkerCompression(kind, P);
    const sent = new Float64Array(P);
    const truth = new Float64Array(P);
    let magnitude = 0;
    for (let step = 0; step < 60; step++) {
      const count = 1 + (step % 3);
      const g = gradient(step, count);
      const got = decodeAll(c, g, count);
      for (let i = 0; i < count * P; i++) {
        sent[i % P] += got[i]!;
        truth[i % P] += g[i]!;
        magnitude += Math.abs(g[i]!);
      }
    }
    let worst = 0;
    let lost = 0; // what the same messages would be off by without error feedback: at least the residual
    for (let j = 0; j < P; j++) {
      worst = Math.max(worst, Math.abs(sent[j]! - (truth[j]! - c.residual[j]!)));
      lost = Math.max(lost, Math.abs(c.residual[j]!));
    }
    // Float rounding only: each step's e = g + r and e − deQ(e) round in float32.
    expect(worst).toBeLessThan((magnitude / P) * 1e-5);
    expect(lost).toBeGreaterThan(0);
  });

  test('the residual stays bounded by one message\'s quantization error instead of growing with the steps', () => {
    const c = new WorkerCompression(kind, P);
    const peaks: number[] = [];
    for (let step = 0; step < 200; step++) {
      decodeAll(c, gradient(step, 1), 1);
      if (step % 50 === 49) peaks.push(Math.max(...Array.from(c.residual, Math.abs)));
    }
    expect(Math.max(...peaks)).toBeLessThan(2 * peaks[0]! + 1e-6);
  });

  test('a non-finite gradient is sent as non-finite, and does not poison the next one', () => {
    const c = new WorkerCompression(kind, P);
    const g = gradient(1, 1);
    g[5] = Number.NaN;
    expect(decodeAll(c, g, 1).some((v) => !Number.isFinite(v))).toBe(true);
    expect(c.residual.every(Number.isFinite)).toBe(true);
    expect(decodeAll(c, gradient(2, 1), 1).every(Number.isFinite)).toBe(true);
  });
});

describe('parameter deltas', () => {
  const delta = (version: number, base: number, values: Uint16Array) => ({ type: 'paramsDelta' as const, version, base, deltaF16: values });

  test('apply in order on the full parameters; each result is a copy the next delta does not change', () => {
    const c = new WorkerCompression('fp16', 3);
    c.adopt(4, new Float32Array([1, 2, 3]));
    const half = 0x3800; // 0.5
    const v5 = c.applyDelta(delta(5, 4, new Uint16Array([half, 0, 0x8000 | half])));
    const v6 = c.applyDelta(delta(6, 5, new Uint16Array([half, half, half])));
    expect(v5).toEqual(new Float32Array([1.5, 2, 2.5]));
    expect(v6).toEqual(new Float32Array([2, 2.5, 3]));
  });

  test('a delta on another version, or of another length, is refused with the reason', () => {
    const c = new WorkerCompression('int8', 3);
    expect(c.applyDelta({ type: 'paramsDelta', version: 1, base: 0, deltaI8: new Int8Array(3), deltaScale: new Float32Array(1) })).toMatch(/based on v0, but this worker holds none/);
    c.adopt(0, new Float32Array(3));
    expect(c.applyDelta({ type: 'paramsDelta', version: 2, base: 1, deltaI8: new Int8Array(3), deltaScale: new Float32Array(1) })).toMatch(/based on v1, but this worker holds v0/);
    expect(c.applyDelta({ type: 'paramsDelta', version: 1, base: 0, deltaI8: new Int8Array(4), deltaScale: new Float32Array(int8ScaleCount(4)) })).toMatch(/has 4 values; the run has 3 parameters/);
  });
});
