/**
 * Gradient checking against an independent float64 oracle.
 *
 * `referenceLoss` re-implements the forward pass and every loss naively —
 * one sample at a time, scalar loops, Float64 throughout, no kernels — so it
 * shares no code path with Model except the definitions in detmath.
 * `gradCheck` compares Model.lossAndGrad (float32) with central differences of
 * that float64 loss. In float64, eps ≈ 1e-6 leaves truncation (~eps²) and
 * rounding (~1e-16/eps) errors near 1e-10, so what the check measures is the
 * model's own float32 error.
 */
import { exp, log, log1p, sigmoid, tanh } from './detmath.js';
import type { Model } from './model.js';
import { DEFAULT_LEAKY_SLOPE, type Activation, type ModelSpec } from './spec.js';
import { paramLayout } from './layout.js';

function activate(act: Activation, z: Float64Array, slope: number): void {
  switch (act) {
    case 'identity':
      return;
    case 'sigmoid':
      for (let j = 0; j < z.length; j++) z[j] = sigmoid(z[j]);
      return;
    case 'tanh':
      for (let j = 0; j < z.length; j++) z[j] = tanh(z[j]);
      return;
    case 'relu':
      for (let j = 0; j < z.length; j++) z[j] = z[j] > 0 ? z[j] : 0;
      return;
    case 'leaky_relu':
      for (let j = 0; j < z.length; j++) z[j] = z[j] > 0 ? z[j] : slope * z[j];
      return;
    case 'softmax': {
      let max = -Infinity;
      for (let j = 0; j < z.length; j++) max = Math.max(max, z[j]);
      let sum = 0;
      for (let j = 0; j < z.length; j++) sum += exp(z[j] - max);
      for (let j = 0; j < z.length; j++) z[j] = exp(z[j] - max) / sum;
      return;
    }
  }
}

/** The loss SUM of `spec` at float64 `params`, sample by sample, in float64. */
export function referenceLoss(
  spec: ModelSpec,
  params: ArrayLike<number>,
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  n: number,
): number {
  const { layers } = paramLayout(spec);
  const slope = spec.leakySlope ?? DEFAULT_LEAKY_SLOPE;
  const outputs = layers[layers.length - 1].fanOut;
  let total = 0;
  for (let s = 0; s < n; s++) {
    let a = Float64Array.from({ length: spec.inputs }, (_, i) => x[s * spec.inputs + i]);
    let z = a;
    for (let l = 0; l < layers.length; l++) {
      const L = layers[l];
      z = new Float64Array(L.fanOut);
      for (let j = 0; j < L.fanOut; j++) {
        let acc = params[L.bOffset + j];
        for (let i = 0; i < L.fanIn; i++) acc += a[i] * params[L.wOffset + i * L.fanOut + j];
        z[j] = acc;
      }
      a = Float64Array.from(z);
      activate(L.activation, a, slope);
    }
    const yo = s * outputs;
    switch (spec.loss) {
      case 'mse_sum':
      case 'mse_mean': {
        let r = 0;
        for (let j = 0; j < outputs; j++) r += (y[yo + j] - a[j]) ** 2;
        total += spec.loss === 'mse_mean' ? r / outputs : r;
        break;
      }
      case 'softmax_xent': {
        let max = -Infinity;
        for (let j = 0; j < outputs; j++) max = Math.max(max, z[j]);
        let sum = 0;
        for (let j = 0; j < outputs; j++) sum += exp(z[j] - max);
        const lse = max + log(sum);
        for (let j = 0; j < outputs; j++) total -= y[yo + j] * (z[j] - lse);
        break;
      }
      case 'sigmoid_bce':
        // −y log σ(z) − (1−y) log(1−σ(z)) = softplus(z) − y·z
        for (let j = 0; j < outputs; j++) {
          const zj = z[j];
          total += Math.max(zj, 0) + log1p(exp(-Math.abs(zj))) - y[yo + j] * zj;
        }
        break;
    }
  }
  return total;
}

export interface GradCheckOptions {
  /** Central-difference step on each float64 parameter; default 1e-6. */
  eps?: number;
  /** Parameters to check; default all. */
  indices?: ArrayLike<number>;
  /**
   * Denominator floor, as a fraction of the largest |gradient| checked:
   * relErr_i = |a_i − n_i| / max(|a_i|, |n_i|, floor·max_j |n_j|). Without it a
   * component that is ~0 by cancellation divides float32 noise by ~0. Default 1e-3.
   */
  floor?: number;
}

export interface GradCheckResult {
  /** Worst relative error over the checked parameters. */
  maxRelError: number;
  /** Parameter index where it occurred. */
  worstIndex: number;
  /** Largest absolute difference, and the largest |numeric gradient|. */
  maxAbsError: number;
  maxAbsGrad: number;
  checked: number;
}

/** Backprop (model, float32) vs float64 central differences of referenceLoss. */
export function gradCheck(
  model: Model,
  params: Float32Array,
  x: Float32Array,
  y: Float32Array,
  n: number,
  opts: GradCheckOptions = {},
): GradCheckResult {
  const eps = opts.eps ?? 1e-6;
  const floor = opts.floor ?? 1e-3;
  const analytic = new Float32Array(model.paramCount);
  model.lossAndGrad(params, x, y, n, analytic);
  const p64 = Float64Array.from(params);
  const indices = opts.indices ?? Array.from({ length: model.paramCount }, (_, i) => i);
  const numeric = new Float64Array(indices.length);
  for (let c = 0; c < indices.length; c++) {
    const i = indices[c];
    const keep = p64[i];
    p64[i] = keep + eps;
    const up = referenceLoss(model.spec, p64, x, y, n);
    p64[i] = keep - eps;
    const down = referenceLoss(model.spec, p64, x, y, n);
    p64[i] = keep;
    numeric[c] = (up - down) / (2 * eps);
  }
  let maxAbsGrad = 0;
  for (let c = 0; c < numeric.length; c++) maxAbsGrad = Math.max(maxAbsGrad, Math.abs(numeric[c]));
  const tiny = floor * maxAbsGrad;
  let maxRelError = 0;
  let maxAbsError = 0;
  let worstIndex = -1;
  for (let c = 0; c < indices.length; c++) {
    const a = analytic[indices[c]];
    const num = numeric[c];
    const diff = Math.abs(a - num);
    const denom = Math.max(Math.abs(a), Math.abs(num), tiny);
    const rel = denom === 0 ? 0 : diff / denom;
    maxAbsError = Math.max(maxAbsError, diff);
    if (Number.isNaN(rel)) {
      // A NaN anywhere is the worst possible outcome: report it, stop looking.
      maxRelError = NaN;
      worstIndex = indices[c];
      break;
    }
    if (rel > maxRelError) {
      maxRelError = rel;
      worstIndex = indices[c];
    }
  }
  return { maxRelError, worstIndex, maxAbsError, maxAbsGrad, checked: indices.length };
}
