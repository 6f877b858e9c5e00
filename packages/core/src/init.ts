/**
 * Initial weights: zero-mean normals scaled so activations neither vanish nor
 * explode through depth. He (std √(2/fanIn)) suits relu-like units, which
 * zero half their inputs; Xavier/Glorot (std √(2/(fanIn+fanOut))) suits
 * sigmoid, tanh, softmax and identity. Biases start at 0.
 */
import type { ParamLayout } from './layout.js';
import { sqrt } from './detmath.js';
import type { Rng } from './rng.js';
import type { Init, ModelSpec } from './spec.js';

export function defaultInit(activation: string): Init {
  return activation === 'relu' || activation === 'leaky_relu' ? 'he' : 'xavier';
}

/** Fills `params` layer by layer, W row-major, from `rng` (same seed → same bits). */
export function initParams(spec: ModelSpec, layout: ParamLayout, params: Float32Array, rng: Rng): void {
  if (params.length !== layout.paramCount) {
    throw new RangeError(`params has ${params.length} entries, the model needs ${layout.paramCount}`);
  }
  for (const l of layout.layers) {
    const kind = spec.init ?? defaultInit(l.activation);
    const std = kind === 'he' ? sqrt(2 / l.fanIn) : sqrt(2 / (l.fanIn + l.fanOut));
    for (let i = l.wOffset; i < l.bOffset; i++) params[i] = std * rng.normal();
    params.fill(0, l.bOffset, l.bOffset + l.fanOut);
  }
}
