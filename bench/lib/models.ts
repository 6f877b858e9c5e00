import type { ModelSpec } from '@gradmesh/core';

/** An MLP benchmark case: relu hidden layers, softmax cross-entropy, one batch size. */
export interface Arch {
  name: string;
  inputs: number;
  hidden: number[];
  classes: number;
  batch: number;
}

export const SMALL: Arch = { name: '784-128-10', inputs: 784, hidden: [128], classes: 10, batch: 64 };
export const LARGE: Arch = { name: '784-512-512-10', inputs: 784, hidden: [512, 512], classes: 10, batch: 256 };
/** The pool's and coordinator's fixed costs show on a model with next to no arithmetic. */
export const TINY: Arch = { name: '4-8-2', inputs: 4, hidden: [8], classes: 2, batch: 8 };

/** Samples the synthetic benchmark data set holds (synthetic:784x10:N). */
export const SYNTHETIC_N = 8192;

export function specOf(a: Pick<Arch, 'inputs' | 'hidden' | 'classes'>): ModelSpec {
  return {
    inputs: a.inputs,
    layers: [...a.hidden.map((units) => ({ units, activation: 'relu' as const })), { units: a.classes, activation: 'softmax' as const }],
    loss: 'softmax_xent',
  };
}

export function datasetName(a: Pick<Arch, 'inputs' | 'classes'>, n = SYNTHETIC_N): string {
  return `synthetic:${a.inputs}x${a.classes}:${n}`;
}

/** (fan-in, fan-out) of each dense layer. */
export function layerDims(a: Pick<Arch, 'inputs' | 'hidden' | 'classes'>): Array<[number, number]> {
  const sizes = [a.inputs, ...a.hidden, a.classes];
  return sizes.slice(1).map((out, i) => [sizes[i]!, out]);
}

export function paramCountOf(a: Pick<Arch, 'inputs' | 'hidden' | 'classes'>): number {
  return layerDims(a).reduce((s, [i, o]) => s + i * o + o, 0);
}

/**
 * Matrix flops of one training sample, forward + backward:
 *   forward              Z_l = A_{l−1}·W_l            2·in·out per layer
 *   weight gradients     dW_l = A_{l−1}ᵀ·dZ_l         2·in·out per layer, the first included
 *   input gradients      dA_{l−1} = dZ_l·W_lᵀ         2·in·out per layer except the first
 * = 6·Σ_l in_l·out_l − 2·in_1·out_1 (a multiply-add counts 2). Nobody needs the
 * gradient with respect to the data, so no implementation computes it;
 * counting it (the plain 6·Σ in·out) would inflate the first layer's work by
 * half. Biases, activations, softmax and the optimizer are O(Σ out) or
 * O(params) per step and left out.
 */
export function flopsPerSample(a: Pick<Arch, 'inputs' | 'hidden' | 'classes'>): number {
  const d = layerDims(a);
  const sum = d.reduce((s, [i, o]) => s + i * o, 0);
  return 6 * sum - 2 * d[0]![0] * d[0]![1];
}

export const FLOPS_FORMULA = '6·Σ in·out − 2·in₁·out₁ per sample (forward 2·Σ, weight gradients 2·Σ, input gradients 2·Σ without the first layer)';
