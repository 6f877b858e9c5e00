/**
 * A model as plain JSON: what travels in checkpoints and over the wire.
 */

export const ACTIVATIONS = ['identity', 'sigmoid', 'tanh', 'relu', 'leaky_relu', 'softmax'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

/**
 * mse_sum:      R = Σ_i Σ_j (y_ij − f_ij)²
 * mse_mean:     R = Σ_i (1/outputs) Σ_j (y_ij − f_ij)²   (mean over components, sum over samples)
 * softmax_xent: R = −Σ_i Σ_j y_ij log softmax(z_i)_j      (fused with a softmax output)
 * sigmoid_bce:  R = −Σ_i Σ_j [y log σ(z) + (1−y) log(1−σ(z))]  (fused with a sigmoid output)
 */
export const LOSSES = ['mse_sum', 'mse_mean', 'softmax_xent', 'sigmoid_bce'] as const;
export type LossName = (typeof LOSSES)[number];

export const INITS = ['xavier', 'he'] as const;
export type Init = (typeof INITS)[number];

export interface DenseSpec {
  units: number;
  activation: Activation;
}

export interface ModelSpec {
  inputs: number;
  layers: DenseSpec[];
  loss: LossName;
  /** Overrides the per-layer default (He for relu/leaky_relu, Xavier otherwise). */
  init?: Init;
  /** Negative-side slope of leaky_relu; default 0.01. */
  leakySlope?: number;
}

export const DEFAULT_LEAKY_SLOPE = 0.01;

/** The loss needs the output layer's pre-activation (it applies the activation itself). */
export function isFusedLoss(loss: LossName): boolean {
  return loss === 'softmax_xent' || loss === 'sigmoid_bce';
}

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

/** Throws an Error with a one-line reason if `spec` is not a usable model. */
export function validateSpec(spec: ModelSpec): void {
  if (typeof spec !== 'object' || spec === null) throw new Error('model spec must be an object');
  if (!isPositiveInt(spec.inputs)) throw new Error(`model spec: inputs must be a positive integer, got ${String(spec.inputs)}`);
  if (!Array.isArray(spec.layers) || spec.layers.length === 0) {
    throw new Error('model spec: layers must be a non-empty array');
  }
  spec.layers.forEach((layer, l) => {
    if (typeof layer !== 'object' || layer === null) throw new Error(`model spec: layer ${l} must be an object`);
    if (!isPositiveInt(layer.units)) {
      throw new Error(`model spec: layer ${l} units must be a positive integer, got ${String(layer.units)}`);
    }
    if (!(ACTIVATIONS as readonly string[]).includes(layer.activation)) {
      throw new Error(`model spec: layer ${l} activation must be one of ${ACTIVATIONS.join(', ')}, got ${String(layer.activation)}`);
    }
  });
  if (!(LOSSES as readonly string[]).includes(spec.loss)) {
    throw new Error(`model spec: loss must be one of ${LOSSES.join(', ')}, got ${String(spec.loss)}`);
  }
  if (spec.init !== undefined && !(INITS as readonly string[]).includes(spec.init)) {
    throw new Error(`model spec: init must be one of ${INITS.join(', ')}, got ${String(spec.init)}`);
  }
  if (spec.leakySlope !== undefined && !(typeof spec.leakySlope === 'number' && spec.leakySlope >= 0 && spec.leakySlope < 1)) {
    // The backward pass reads the sign of z from the output a, which needs slope ≥ 0.
    throw new Error(`model spec: leakySlope must be a number in [0, 1), got ${String(spec.leakySlope)}`);
  }
  const last = spec.layers[spec.layers.length - 1];
  if (spec.loss === 'softmax_xent') {
    if (last.activation !== 'softmax') {
      throw new Error(`model spec: softmax_xent requires the last layer's activation to be 'softmax' (fused), got '${last.activation}'`);
    }
    if (last.units < 2) throw new Error('model spec: softmax_xent needs at least 2 output units (a 1-way softmax is constant)');
  }
  if (spec.loss === 'sigmoid_bce' && last.activation !== 'sigmoid') {
    throw new Error(`model spec: sigmoid_bce requires the last layer's activation to be 'sigmoid' (fused), got '${last.activation}'`);
  }
}
