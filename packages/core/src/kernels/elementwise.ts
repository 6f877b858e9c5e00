/**
 * The JS references of the Kernels interface's optional element-wise passes
 * (see types.ts): what core runs when a kernel set does not implement one,
 * and the bits every implementation must reproduce. Plain double arithmetic
 * rounded once to float32 on store, which native and WASM code reproduce
 * exactly (float→double is exact; +, × and double→float are IEEE; no FMA).
 */

import { sqrt } from '../detmath.js';

export function relu(length: number, x: Float32Array): void {
  for (let i = 0; i < length; i++) if (x[i] < 0) x[i] = 0;
}

export function reluBackwardColSums(
  rows: number, cols: number, a: Float32Array, d: Float32Array, out: Float32Array,
  acc: Float64Array = new Float64Array(cols),
): void {
  acc.fill(0, 0, cols);
  for (let r = 0, o = 0; r < rows; r++, o += cols) {
    for (let j = 0; j < cols; j++) {
      const i = o + j;
      // Skipping the add for a zeroed d changes no bit: acc starts at +0, so
      // it is never −0, and acc + 0 = acc.
      if (a[i] <= 0) d[i] = 0;
      else acc[j] += d[i];
    }
  }
  for (let j = 0; j < cols; j++) out[j] = acc[j];
}

export function momentum(length: number, mu: number, scale: number, lr: number, grad: Float32Array, v: Float32Array, params: Float32Array): void {
  for (let i = 0; i < length; i++) {
    const vi = mu * v[i]! + grad[i]! * scale;
    v[i] = vi;
    params[i] = params[i]! - lr * vi;
  }
}

/** Adam's update (see types.ts); c = [B, clip, wd, shrink, b1, b2, lr, bc1, bc2, eps]. */
export function adam(length: number, c: Float64Array, grad: Float32Array, m1: Float32Array, m2: Float32Array, params: Float32Array): void {
  const B = c[0]!, clip = c[1]!, wd = c[2]!, shrink = c[3]!, b1 = c[4]!, b2 = c[5]!, lr = c[6]!, bc1 = c[7]!, bc2 = c[8]!, eps = c[9]!;
  for (let i = 0; i < length; i++) {
    const p = params[i]!;
    let g = (grad[i]! / B) * clip;
    if (wd !== 0) g += wd * p;
    const m = b1 * m1[i]! + (1 - b1) * g;
    const v = b2 * m2[i]! + (1 - b2) * g * g;
    m1[i] = m;
    m2[i] = v;
    params[i] = p * shrink - (lr * (m / bc1)) / (sqrt(v / bc2) + eps);
  }
}

export function axpy(length: number, alpha: number, x: Float32Array, y: Float32Array): void {
  for (let i = 0; i < length; i++) y[i] += alpha * x[i];
}
