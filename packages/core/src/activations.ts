/**
 * Activations over a rows×cols block, forward and backward side by side.
 *
 * forward turns Z into A in place. backward turns dR/dA into dR/dZ in place,
 * reading only A: every activation here has a derivative expressible through
 * its output (σ' = a(1−a), tanh' = 1−a², relu' = [a>0], leaky: slope ≥ 0
 * keeps sign(a) = sign(z)), so Z never needs a separate buffer.
 * Element math runs in double and rounds to float32 on store.
 */
import { exp, sigmoid, tanh } from './detmath.js';
import type { Activation } from './spec.js';

export interface ActivationOps {
  forward(z: Float32Array, rows: number, cols: number, slope: number): void;
  backward(a: Float32Array, d: Float32Array, rows: number, cols: number, slope: number): void;
}

/** Row-wise softmax of z in place, shifted by the row max so exp cannot overflow. */
export function softmaxRowsInPlace(z: Float32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let max = -Infinity;
    for (let j = 0; j < cols; j++) if (z[o + j] > max) max = z[o + j];
    let sum = 0;
    for (let j = 0; j < cols; j++) {
      const e = exp(z[o + j] - max);
      z[o + j] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let j = 0; j < cols; j++) z[o + j] *= inv;
  }
}

export const ACTIVATION_OPS: Record<Activation, ActivationOps> = {
  identity: {
    forward() {},
    backward() {},
  },
  sigmoid: {
    forward(z, rows, cols) {
      const len = rows * cols;
      for (let i = 0; i < len; i++) z[i] = sigmoid(z[i]);
    },
    backward(a, d, rows, cols) {
      const len = rows * cols;
      for (let i = 0; i < len; i++) {
        const ai = a[i];
        d[i] = d[i] * ai * (1 - ai);
      }
    },
  },
  tanh: {
    forward(z, rows, cols) {
      const len = rows * cols;
      for (let i = 0; i < len; i++) z[i] = tanh(z[i]);
    },
    backward(a, d, rows, cols) {
      const len = rows * cols;
      for (let i = 0; i < len; i++) {
        const ai = a[i];
        d[i] = d[i] * (1 - ai * ai);
      }
    },
  },
  relu: {
    forward(z, rows, cols) {
      const len = rows * cols;
      for (let i = 0; i < len; i++) if (z[i] < 0) z[i] = 0; // a NaN stays NaN: divergence must stay visible
    },
    backward(a, d, rows, cols) {
      const len = rows * cols;
      for (let i = 0; i < len; i++) if (a[i] <= 0) d[i] = 0;
    },
  },
  leaky_relu: {
    forward(z, rows, cols, slope) {
      const len = rows * cols;
      for (let i = 0; i < len; i++) if (z[i] < 0) z[i] *= slope;
    },
    backward(a, d, rows, cols, slope) {
      const len = rows * cols;
      for (let i = 0; i < len; i++) if (a[i] <= 0) d[i] *= slope;
    },
  },
  softmax: {
    forward(z, rows, cols) {
      softmaxRowsInPlace(z, rows, cols);
    },
    // Full Jacobian-vector product: dz_j = a_j (d_j − Σ_k a_k d_k).
    backward(a, d, rows, cols) {
      for (let r = 0; r < rows; r++) {
        const o = r * cols;
        let dot = 0;
        for (let j = 0; j < cols; j++) dot += a[o + j] * d[o + j];
        for (let j = 0; j < cols; j++) d[o + j] = a[o + j] * (d[o + j] - dot);
      }
    },
  },
};
