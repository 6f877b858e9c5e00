import type { Model } from '@gradmesh/core';
import type { Split } from '@gradmesh/data';

/** Mean loss and accuracy over a split, in chunks so memory stays bounded. */
export function evaluateSplit(model: Model, params: Float32Array, split: Split): { loss: number; accuracy: number } {
  const chunk = 1024;
  let lossSum = 0;
  let correct = 0;
  for (let s = 0; s < split.n; s += chunk) {
    const n = Math.min(chunk, split.n - s);
    const r = model.evaluate(
      params,
      split.x.subarray(s * model.inputs, (s + n) * model.inputs),
      split.y.subarray(s * model.outputs, (s + n) * model.outputs),
      n,
    );
    lossSum += r.lossSum;
    correct += r.correct;
  }
  return { loss: lossSum / split.n, accuracy: correct / split.n };
}
