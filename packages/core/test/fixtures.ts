/** Test helpers: random models, parameters and batches from a seed. */
import { Model, Rng, type ModelSpec } from '@gradmesh/core';

export interface Batch {
  x: Float32Array;
  y: Float32Array;
  n: number;
}

/** Targets that suit the loss: one-hot (softmax_xent), 0/1 (sigmoid_bce), normals (mse). */
export function randomBatch(model: Model, n: number, rng: Rng, softTargets = false): Batch {
  const { inputs, outputs } = model;
  const x = new Float32Array(n * inputs);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  const y = new Float32Array(n * outputs);
  for (let s = 0; s < n; s++) {
    const row = y.subarray(s * outputs, (s + 1) * outputs);
    switch (model.spec.loss) {
      case 'softmax_xent':
        if (softTargets) for (let j = 0; j < outputs; j++) row[j] = rng.next();
        else row[rng.below(outputs)] = 1;
        break;
      case 'sigmoid_bce':
        for (let j = 0; j < outputs; j++) row[j] = softTargets ? rng.next() : rng.below(2);
        break;
      default:
        for (let j = 0; j < outputs; j++) row[j] = rng.normal();
    }
  }
  return { x, y, n };
}

/** Initialised parameters with non-zero biases, so bias paths are exercised too. */
export function randomParams(model: Model, rng: Rng): Float32Array {
  const p = new Float32Array(model.paramCount);
  model.initParams(p, rng);
  for (const l of model.layers) for (let j = 0; j < l.fanOut; j++) p[l.bOffset + j] = 0.3 * rng.normal();
  return p;
}

export function mlp(inputs: number, hidden: { units: number; activation: ModelSpec['layers'][number]['activation'] }[], out: ModelSpec['layers'][number], loss: ModelSpec['loss']): ModelSpec {
  return { inputs, layers: [...hidden, out], loss };
}

/** Index of the first element whose bits differ (−1 if none, or the length if lengths differ). */
export function firstBitDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}
