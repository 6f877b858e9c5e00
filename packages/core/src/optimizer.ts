/**
 * Optimizers over the flat parameter buffer. `apply` takes the gradient SUM
 * of a global batch and its size, so the coordinator can hand over the
 * all-reduced sum as is:
 *   g = gradSum / B, then clip g to clipNorm (global L2 norm), then
 *   sgd       p ← p − lr·(g + wd·p)
 *   momentum  v ← μv + (g + wd·p);  p ← p − lr·v              (PyTorch form)
 *   nesterov  v ← μv + (g + wd·p);  p ← p − lr·((g + wd·p) + μv)
 *   adam      m ← β1·m + (1−β1)·g',  v ← β2·v + (1−β2)·g'²,  g' = g + wd·p
 *             p ← p − lr·m̂/(√v̂ + ε),  m̂ = m/(1−β1^t),  v̂ = v/(1−β2^t)
 *   adamw     as adam with g' = g, and p ← p·(1 − lr·wd) first (decoupled decay)
 * Per element the arithmetic is double, rounded to float32 once on store.
 * All optimizer memory is ONE flat Float32Array (`state`): velocity, or m
 * followed by v, so a checkpoint is that buffer plus the step count.
 */
import { powInt, sqrt } from './detmath.js';
import { adam, axpy, momentum } from './kernels/elementwise.js';
import type { Kernels } from './kernels/types.js';
import { clipScale } from './norm.js';
import { scheduledLr, validateSchedule, type Schedule } from './schedule.js';

export const OPTIMIZERS = ['sgd', 'momentum', 'nesterov', 'adam', 'adamw'] as const;
export type OptimizerKind = (typeof OPTIMIZERS)[number];

export interface OptimizerConfig {
  kind: OptimizerKind;
  lr: number;
  /** momentum/nesterov; default 0.9 */
  momentum?: number;
  /** adam/adamw; defaults 0.9, 0.999, 1e-8 */
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** L2 added to the gradient (sgd, momentum, nesterov, adam) or decoupled (adamw); default 0 */
  weightDecay?: number;
  /** Clip the mean gradient's global L2 norm to this. */
  clipNorm?: number;
  schedule?: Schedule;
  warmupSteps?: number;
}

export interface OptimizerState {
  state: Float32Array;
  /** Steps taken. */
  t: number;
}

/** Length of the state buffer for `kind` over `paramCount` parameters. */
export function optimizerStateSize(kind: OptimizerKind, paramCount: number): number {
  if (kind === 'sgd') return 0;
  if (kind === 'momentum' || kind === 'nesterov') return paramCount;
  return 2 * paramCount;
}

function inUnit(v: number | undefined): boolean {
  return v === undefined || (typeof v === 'number' && v >= 0 && v < 1);
}

/** Throws an Error with a one-line reason if `cfg` is unusable. */
export function validateOptimizerConfig(cfg: OptimizerConfig): void {
  if (typeof cfg !== 'object' || cfg === null) throw new Error('optimizer config must be an object');
  if (!(OPTIMIZERS as readonly string[]).includes(cfg.kind)) {
    throw new Error(`optimizer kind must be one of ${OPTIMIZERS.join(', ')}, got ${String(cfg.kind)}`);
  }
  if (!(typeof cfg.lr === 'number' && cfg.lr >= 0 && Number.isFinite(cfg.lr))) {
    throw new Error(`optimizer lr must be a finite non-negative number, got ${String(cfg.lr)}`);
  }
  if (!inUnit(cfg.momentum)) throw new Error(`optimizer momentum must be in [0, 1), got ${String(cfg.momentum)}`);
  if (!inUnit(cfg.beta1)) throw new Error(`optimizer beta1 must be in [0, 1), got ${String(cfg.beta1)}`);
  if (!inUnit(cfg.beta2)) throw new Error(`optimizer beta2 must be in [0, 1), got ${String(cfg.beta2)}`);
  if (cfg.eps !== undefined && !(typeof cfg.eps === 'number' && cfg.eps > 0)) {
    throw new Error(`optimizer eps must be positive, got ${String(cfg.eps)}`);
  }
  if (cfg.weightDecay !== undefined && !(typeof cfg.weightDecay === 'number' && cfg.weightDecay >= 0 && Number.isFinite(cfg.weightDecay))) {
    throw new Error(`optimizer weightDecay must be a finite non-negative number, got ${String(cfg.weightDecay)}`);
  }
  if (cfg.clipNorm !== undefined && !(typeof cfg.clipNorm === 'number' && cfg.clipNorm > 0)) {
    throw new Error(`optimizer clipNorm must be positive, got ${String(cfg.clipNorm)}`);
  }
  if (cfg.warmupSteps !== undefined && !(Number.isInteger(cfg.warmupSteps) && cfg.warmupSteps >= 0)) {
    throw new Error(`optimizer warmupSteps must be a non-negative integer, got ${String(cfg.warmupSteps)}`);
  }
  if (cfg.schedule !== undefined) validateSchedule(cfg.schedule);
}

// One function per rule, so each JS loop stays monomorphic; the common cases
// hand their loop to the kernel set when it has one (kernels/elementwise.ts
// holds the JS references they must match).

function sgdStep(params: Float32Array, gradSum: Float32Array, B: number, clip: number, lr: number, wd: number): void {
  for (let i = 0; i < params.length; i++) {
    let g = (gradSum[i] / B) * clip;
    if (wd !== 0) g += wd * params[i];
    params[i] = params[i] - lr * g;
  }
}

/**
 * Plain SGD, p ← p − lr·(gradSum/B), without sgdStep's division when B is a
 * power of two: then lr·(g/B) and (lr/B)·g are the same real number rounded
 * once (scaling by 2^-k is exact while lr/B stays a normal double), so
 * p + (−lr/B)·g — an axpy, which the kernels may run — gives sgdStep's bits
 * with clip 1 and wd 0. The division (~5 cycles on Zen 3) was half of
 * sgdStep's time.
 */
function plainSgdStep(params: Float32Array, gradSum: Float32Array, B: number, lr: number, kernels: Kernels | undefined): void {
  const n = params.length;
  const s = lr / B;
  if (B <= 2 ** 30 && (B & (B - 1)) === 0 && (s === 0 || s >= MIN_NORMAL)) {
    if (kernels?.axpy !== undefined) kernels.axpy(n, -s, gradSum, params);
    else axpy(n, -s, gradSum, params);
  } else {
    for (let i = 0; i < n; i++) params[i] -= lr * (gradSum[i] / B);
  }
}

const MIN_NORMAL = 2.2250738585072014e-308;

function momentumStep(
  params: Float32Array, gradSum: Float32Array, v: Float32Array,
  B: number, clip: number, lr: number, wd: number, mu: number, nesterov: boolean, kernels: Kernels | undefined,
): void {
  // The common case (the MNIST recipe) without per-element branches or division:
  // g/B is g·(1/B) exactly when B is a power of two, and ·1 and +0 are identities,
  // so the bits are the general loop's. A kernel set's momentum gives the JS loop's bits.
  if (B <= 2 ** 30 && (B & (B - 1)) === 0 && clip === 1 && wd === 0 && !nesterov) {
    (kernels?.momentum ?? momentum)(params.length, mu, 1 / B, lr, gradSum, v, params);
    return;
  }
  for (let i = 0; i < params.length; i++) {
    let g = (gradSum[i] / B) * clip;
    if (wd !== 0) g += wd * params[i];
    const vi = mu * v[i] + g;
    v[i] = vi;
    params[i] = params[i] - lr * (nesterov ? g + mu * vi : vi);
  }
}

/** wd: L2 folded into the gradient (adam); shrink: decoupled decay factor 1 − lr·wd (adamw). m, v: the moments of these parameters. */
function adamStep(
  params: Float32Array, gradSum: Float32Array, m1: Float32Array, m2: Float32Array,
  B: number, clip: number, lr: number, wd: number, shrink: number,
  b1: number, b2: number, eps: number, t: number, kernels: Kernels | undefined,
): void {
  const c = ADAM_COEFFS;
  c[0] = B; c[1] = clip; c[2] = wd; c[3] = shrink; c[4] = b1; c[5] = b2; c[6] = lr;
  c[7] = 1 - powInt(b1, t);
  c[8] = 1 - powInt(b2, t);
  c[9] = eps;
  // The kernel set's (native: ~10× the JS loop) or the JS reference: the same bits.
  (kernels?.adam ?? adam)(params.length, c, gradSum, m1, m2, params);
}
const ADAM_COEFFS = new Float64Array(10);

export class Optimizer {
  readonly config: OptimizerConfig;
  readonly paramCount: number;
  /** velocity (momentum, nesterov) or m then v (adam, adamw); empty for sgd */
  state: Float32Array;
  /** steps taken */
  t = 0;
  /** Where plain SGD's axpy and the momentum and Adam updates run (the kernel set's if it has them; the JS loops otherwise: the same bits). */
  readonly kernels: Kernels | undefined;

  constructor(cfg: OptimizerConfig, paramCount: number, kernels?: Kernels) {
    validateOptimizerConfig(cfg);
    if (!(Number.isInteger(paramCount) && paramCount >= 0)) {
      throw new RangeError(`paramCount must be a non-negative integer, got ${paramCount}`);
    }
    this.config = { ...cfg };
    this.paramCount = paramCount;
    this.state = new Float32Array(optimizerStateSize(cfg.kind, paramCount));
    this.kernels = kernels;
  }

  /** The learning rate step t (0-based) is taken with. */
  lrAt(t: number): number {
    return scheduledLr(this.config.lr, t, this.config.schedule, this.config.warmupSteps);
  }

  /** One step from the gradient SUM over batchSize samples; updates params in place. */
  apply(params: Float32Array, gradSum: Float32Array, batchSize: number): void {
    this.check(params, gradSum, batchSize);
    const c = this.config;
    const P = this.paramCount;
    const B = batchSize;
    let clip = 1;
    if (c.clipNorm !== undefined) {
      let sum = 0;
      for (let i = 0; i < P; i++) {
        const g = gradSum[i] / B;
        sum += g * g;
      }
      clip = clipScale(sqrt(sum), c.clipNorm);
    }
    this.update(params, gradSum, B, clip, 0, P);
    this.t++;
  }

  /**
   * Whether an update is element-wise: parameter i's new value depends on
   * entry i of the parameters, gradient and state alone (every rule without
   * clipNorm, whose global norm needs the whole gradient first). Then
   * applyRange over any partition of [0, paramCount) — in any order, on any
   * threads — followed by advance() gives apply's bits.
   */
  get elementwise(): boolean {
    return this.config.clipNorm === undefined;
  }

  /**
   * Step t's update of parameters [lo, hi) only (params, gradSum and the
   * state are the whole buffers); the step count does not move — advance()
   * does, once every range is done. Only for elementwise optimizers.
   */
  applyRange(params: Float32Array, gradSum: Float32Array, batchSize: number, lo: number, hi: number): void {
    if (!this.elementwise) throw new Error('applyRange: an optimizer that clips to a global norm updates the whole buffer at once (apply)');
    this.check(params, gradSum, batchSize);
    if (!(Number.isInteger(lo) && Number.isInteger(hi) && 0 <= lo && lo <= hi && hi <= this.paramCount)) {
      throw new RangeError(`applyRange: [${lo}, ${hi}) is not inside [0, ${this.paramCount})`);
    }
    this.update(params, gradSum, batchSize, 1, lo, hi);
  }

  /** Ends a step taken by applyRange. */
  advance(): void {
    this.t++;
  }

  private check(params: Float32Array, gradSum: Float32Array, batchSize: number): void {
    const P = this.paramCount;
    if (params.length !== P) throw new RangeError(`params has ${params.length} entries, the optimizer was built for ${P}`);
    if (gradSum.length !== P) throw new RangeError(`gradient has ${gradSum.length} entries, the optimizer was built for ${P}`);
    if (!(Number.isInteger(batchSize) && batchSize > 0)) {
      throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
    }
  }

  /** Step t's rule over entries [lo, hi), the gradient scaled by clip. */
  private update(params: Float32Array, gradSum: Float32Array, B: number, clip: number, lo: number, hi: number): void {
    const c = this.config;
    const P = this.paramCount;
    const lr = this.lrAt(this.t);
    const wd = c.weightDecay ?? 0;
    const whole = lo === 0 && hi === P;
    const p = whole ? params : params.subarray(lo, hi);
    const g = whole ? gradSum : gradSum.subarray(lo, hi);
    const s = this.state;
    switch (c.kind) {
      case 'sgd':
        if (clip === 1 && wd === 0) plainSgdStep(p, g, B, lr, this.kernels);
        else sgdStep(p, g, B, clip, lr, wd);
        break;
      case 'momentum':
      case 'nesterov':
        momentumStep(p, g, s.subarray(lo, hi), B, clip, lr, wd, c.momentum ?? 0.9, c.kind === 'nesterov', this.kernels);
        break;
      case 'adam':
      case 'adamw': {
        const b1 = c.beta1 ?? 0.9;
        const b2 = c.beta2 ?? 0.999;
        const decoupled = c.kind === 'adamw';
        adamStep(p, g, s.subarray(lo, hi), s.subarray(P + lo, P + hi), B, clip, lr, decoupled ? 0 : wd, decoupled ? 1 - lr * wd : 1, b1, b2, c.eps ?? 1e-8, this.t + 1, this.kernels);
        break;
      }
    }
  }

  /** A copy of the state buffer and step count, for checkpoints. */
  getState(): OptimizerState {
    return { state: this.state.slice(), t: this.t };
  }

  /** Restores what getState returned (copies it in). */
  setState(st: OptimizerState): void {
    if (st.state.length !== this.state.length) {
      throw new RangeError(`optimizer state has ${st.state.length} entries, ${this.config.kind} over ${this.paramCount} parameters needs ${this.state.length}`);
    }
    if (!(Number.isInteger(st.t) && st.t >= 0)) throw new RangeError(`optimizer step count must be a non-negative integer, got ${st.t}`);
    this.state.set(st.state);
    this.t = st.t;
  }
}
