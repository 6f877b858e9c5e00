import { z } from 'zod';
import { MAX_PARAMS } from './limits.js';
import { intIn, numberIn } from './fields.js';

export const ACTIVATIONS = ['identity', 'sigmoid', 'tanh', 'relu', 'leaky_relu', 'softmax'] as const;
export const LOSSES = ['mse_sum', 'mse_mean', 'softmax_xent', 'sigmoid_bce'] as const;
export const INITS = ['xavier', 'he'] as const;

export const layerSpecSchema = z.strictObject({
  units: intIn(1, 100_000),
  activation: z.enum(ACTIVATIONS),
});

/**
 * A dense model as JSON. Validated here, at the edge, so that core can trust
 * it and stay dependency-free. The parameter count (weights and biases) is
 * bounded too: each dimension alone can be in range while their product is
 * not.
 */
export const modelSpecSchema = z
  .strictObject({
    inputs: intIn(1, 100_000),
    layers: z.array(layerSpecSchema).min(1).max(64),
    loss: z.enum(LOSSES),
    init: z.enum(INITS).optional(),
    leakySlope: numberIn(0, 1).optional(),
  })
  .check((ctx) => {
    const count = specParamCount(ctx.value);
    if (count > MAX_PARAMS) {
      ctx.issues.push({
        code: 'custom',
        input: ctx.value,
        path: ['layers'],
        message: `${count} parameters exceed the limit of ${MAX_PARAMS}`,
      });
    }
  });

export type ModelSpec = z.output<typeof modelSpecSchema>;
export type LayerSpec = z.output<typeof layerSpecSchema>;
export type Activation = (typeof ACTIVATIONS)[number];
export type LossName = (typeof LOSSES)[number];

/** Weights plus biases of every layer. */
export function specParamCount(spec: { inputs: number; layers: readonly { units: number }[] }): number {
  let count = 0;
  let fanIn = spec.inputs;
  for (const layer of spec.layers) {
    count += fanIn * layer.units + layer.units;
    fanIn = layer.units;
  }
  return count;
}
