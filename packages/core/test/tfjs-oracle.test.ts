import { beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-core ships gradient functions separately from the ops.
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { Model, Rng } from '@gradmesh/core';
import { KERNEL_SETS } from './kernel-sets.js';

// An independent implementation (TensorFlow.js, CPU backend, its own autodiff)
// computes loss and gradients of the same 784-128-10 relu / softmax
// cross-entropy network from the same weights on the same batch.
// Gradients are compared relative to the largest |gradient| of each tensor:
// float32 sums over 784 or 32 terms in different orders differ by ~1e-7 of
// that scale, while near-zero components have no meaningful relative error.
// The same 1e-4 holds for every kernel set (measured: ≤ 1.2e-7 for js, ≤ 4.2e-7
// for the float32-accumulating wasm and native-avx2 gemms).

beforeAll(async () => {
  await tf.setBackend('cpu');
});

for (const set of KERNEL_SETS) {
  describe(set.name, () => {
    test('loss and every gradient agree with tfjs autodiff to 1e-4', () => {
      const spec = { inputs: 784, layers: [{ units: 128, activation: 'relu' as const }, { units: 10, activation: 'softmax' as const }], loss: 'softmax_xent' as const };
      const model = new Model(spec, set.make());
      const rng = new Rng(31337);
      const params = new Float32Array(model.paramCount);
      model.initParams(params, rng);
      const [L1, L2] = model.layers;
      for (const L of [L1, L2]) for (let j = 0; j < L.fanOut; j++) params[L.bOffset + j] = 0.1 * rng.normal();
      const n = 32;
      const x = new Float32Array(n * 784);
      for (let i = 0; i < x.length; i++) x[i] = rng.next() < 0.8 ? 0 : rng.next(); // MNIST-like: mostly zero pixels
      const y = new Float32Array(n * 10);
      for (let s = 0; s < n; s++) y[s * 10 + rng.below(10)] = 1;

      const grad = new Float32Array(model.paramCount);
      const loss = model.lossAndGrad(params, x, y, n, grad);

      const W1 = tf.tensor2d(params.slice(L1.wOffset, L1.bOffset), [784, 128]);
      const b1 = tf.tensor1d(params.slice(L1.bOffset, L1.bOffset + 128));
      const W2 = tf.tensor2d(params.slice(L2.wOffset, L2.bOffset), [128, 10]);
      const b2 = tf.tensor1d(params.slice(L2.bOffset, L2.bOffset + 10));
      const X = tf.tensor2d(x, [n, 784]);
      const Y = tf.tensor2d(y, [n, 10]);
      const f = (w1: tf.Tensor, c1: tf.Tensor, w2: tf.Tensor, c2: tf.Tensor): tf.Scalar => {
        const hidden = tf.relu(tf.add(tf.matMul(X, w1 as tf.Tensor2D), c1));
        const logits = tf.add(tf.matMul(hidden as tf.Tensor2D, w2 as tf.Tensor2D), c2);
        return tf.neg(tf.sum(tf.mul(Y, tf.logSoftmax(logits)))) as tf.Scalar;
      };
      const tfLoss = f(W1, b1, W2, b2).dataSync()[0];
      const [gW1, gb1, gW2, gb2] = tf.grads(f)([W1, b1, W2, b2]).map((t) => t.dataSync() as Float32Array);

      const report: string[] = [`loss ${(Math.abs(loss - tfLoss) / Math.abs(tfLoss)).toExponential(2)}`];
      expect(Math.abs(loss - tfLoss) / Math.abs(tfLoss)).toBeLessThan(1e-4);
      const pairs: [string, Float32Array, Float32Array][] = [
        ['W1', grad.subarray(L1.wOffset, L1.bOffset), gW1],
        ['b1', grad.subarray(L1.bOffset, L1.bOffset + 128), gb1],
        ['W2', grad.subarray(L2.wOffset, L2.bOffset), gW2],
        ['b2', grad.subarray(L2.bOffset, L2.bOffset + 10), gb2],
      ];
      for (const [name, ours, theirs] of pairs) {
        expect(ours.length).toBe(theirs.length);
        let scale = 0;
        let diff = 0;
        for (let i = 0; i < ours.length; i++) {
          scale = Math.max(scale, Math.abs(theirs[i]));
          diff = Math.max(diff, Math.abs(ours[i] - theirs[i]));
        }
        expect(scale, name).toBeGreaterThan(0);
        report.push(`${name} ${(diff / scale).toExponential(2)}`);
        expect(diff / scale, name).toBeLessThan(1e-4);
      }
      console.log(`tfjs oracle, ${set.name}, relative differences: ${report.join(', ')}`);
      tf.disposeVariables();
    });
  });
}
