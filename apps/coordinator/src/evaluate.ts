import type { Model } from '@gradmesh/core';
import type { Split } from '@gradmesh/data';

/** Mean loss and accuracy over the first `limit` samples of a split (all by default), in chunks so memory stays bounded. */
export function evaluateSplit(model: Model, params: Float32Array, split: Split, limit = split.n): { loss: number; accuracy: number } {
  const chunk = 1024;
  const total = Math.min(limit, split.n);
  let lossSum = 0;
  let correct = 0;
  for (let s = 0; s < total; s += chunk) {
    const n = Math.min(chunk, total - s);
    const r = model.evaluate(
      params,
      split.x.subarray(s * model.inputs, (s + n) * model.inputs),
      split.y.subarray(s * model.outputs, (s + n) * model.outputs),
      n,
    );
    lossSum += r.lossSum;
    correct += r.correct;
  }
  return { loss: lossSum / total, accuracy: correct / total };
}

/** Every ⌈n/k⌉-th sample of a split: a small fixed subset that still spans every class (splits may be sorted by label). */
export function strideSubset(split: Split, k: number): Split {
  if (split.n <= k) return split;
  const stride = Math.ceil(split.n / k);
  const n = Math.ceil(split.n / stride);
  const inW = split.x.length / split.n;
  const outW = split.y.length / split.n;
  const x = new Float32Array(n * inW);
  const y = new Float32Array(n * outW);
  for (let i = 0; i < n; i++) {
    x.set(split.x.subarray(i * stride * inW, (i * stride + 1) * inW), i * inW);
    y.set(split.y.subarray(i * stride * outW, (i * stride + 1) * outW), i * outW);
  }
  return { n, x, y };
}
