/**
 * Losses over a rows×cols output block: the loss SUM over rows and dR/d(out).
 *
 * `out` is the output layer's post-activation A for the mse losses, and its
 * pre-activation Z for the fused ones (softmax_xent, sigmoid_bce), which then
 * hand back dR/dZ directly: computing log(softmax) or log(σ) from A would
 * underflow to log(0) for confident wrong predictions.
 */
import { exp, log, log1p } from './detmath.js';
import type { LossName } from './spec.js';

export type LossOp = (out: Float32Array, y: Float32Array, rows: number, cols: number, delta: Float32Array) => number;

/** softmax_xent's exp(z_j − max) for one row, in double (grown to the widest row seen). */
let rowExp = new Float64Array(16);

export const LOSS_OPS: Record<LossName, LossOp> = {
  // R = Σ (a − y)²,  dR/da = 2(a − y)
  mse_sum(a, y, rows, cols, delta) {
    const len = rows * cols;
    let loss = 0;
    for (let i = 0; i < len; i++) {
      const e = a[i] - y[i];
      loss += e * e;
      delta[i] = 2 * e;
    }
    return loss;
  },

  // R = Σ_rows (1/cols) Σ_j (a − y)²,  dR/da = 2(a − y)/cols
  mse_mean(a, y, rows, cols, delta) {
    const scale = 2 / cols;
    let loss = 0;
    for (let r = 0; r < rows; r++) {
      let row = 0;
      for (let j = r * cols, end = j + cols; j < end; j++) {
        const e = a[j] - y[j];
        row += e * e;
        delta[j] = scale * e;
      }
      loss += row / cols;
    }
    return loss;
  },

  // R = Σ_j y_j (lse(z) − z_j),  dR/dz_j = softmax(z)_j · Σy − y_j  (= p − y for one-hot y)
  // One exp per element: e_j = exp(z_j − max) is kept (in double) for
  // p_j = e_j / Σe, rather than recomputed as exp(z_j − lse). exp is ~50 ns
  // here, and the second one cost ~5 % of a 784-128-10 step.
  softmax_xent(z, y, rows, cols, delta) {
    if (rowExp.length < cols) rowExp = new Float64Array(cols);
    const e = rowExp;
    let loss = 0;
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let max = -Infinity;
      for (let j = 0; j < cols; j++) if (z[o + j] > max) max = z[o + j];
      let sum = 0;
      for (let j = 0; j < cols; j++) sum += e[j] = exp(z[o + j] - max);
      const lse = max + log(sum);
      let ySum = 0;
      for (let j = 0; j < cols; j++) {
        const yj = y[o + j];
        if (yj !== 0) {
          loss += yj * (lse - z[o + j]);
          ySum += yj;
        }
      }
      for (let j = 0; j < cols; j++) delta[o + j] = (e[j] / sum) * ySum - y[o + j];
    }
    return loss;
  },

  // R = Σ softplus(z) − y·z  (= −y log σ(z) − (1−y) log(1−σ(z))),  dR/dz = σ(z) − y
  sigmoid_bce(z, y, rows, cols, delta) {
    const len = rows * cols;
    let loss = 0;
    for (let i = 0; i < len; i++) {
      const zi = z[i];
      const yi = y[i];
      const e = exp(zi < 0 ? zi : -zi); // e^-|z| ∈ (0, 1]: never overflows
      const s = zi >= 0 ? 1 / (1 + e) : e / (1 + e);
      loss += (zi > 0 ? zi : 0) + log1p(e) - yi * zi;
      delta[i] = s - yi;
    }
    return loss;
  },
};
