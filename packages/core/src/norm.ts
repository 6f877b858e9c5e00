/**
 * Vector norms and global-norm clipping. Squares are summed in index order in
 * double (float32 squares cannot overflow a double), so the result is the same
 * bits on every run.
 */
import { sqrt } from './detmath.js';

/** √(Σ v_i²); NaN if any entry is NaN, Infinity if any is infinite. */
export function l2Norm(v: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  return sqrt(sum);
}

/** The factor bringing a vector of norm `norm` down to at most `maxNorm` (1 if already within). */
export function clipScale(norm: number, maxNorm: number): number {
  return norm > maxNorm ? maxNorm / norm : 1;
}

/** Scales v in place so ‖v‖₂ ≤ maxNorm; returns the norm before clipping. */
export function clipByGlobalNorm(v: Float32Array, maxNorm: number): number {
  const norm = l2Norm(v);
  const s = clipScale(norm, maxNorm);
  if (s !== 1) for (let i = 0; i < v.length; i++) v[i] *= s;
  return norm;
}
