/**
 * Where each layer's parameters live in the one flat Float32Array.
 *
 * Layer l holds W (fanIn×fanOut, row-major, so the forward pass is Z = X·W + b)
 * at wOffset, then its fanOut biases at bOffset = wOffset + fanIn·fanOut;
 * layers follow each other in order. Gradients use the identical layout, so an
 * all-reduce or an optimizer step is one loop over one buffer.
 */
import type { Activation, ModelSpec } from './spec.js';

export interface LayerLayout {
  readonly wOffset: number;
  readonly bOffset: number;
  readonly fanIn: number;
  readonly fanOut: number;
  readonly activation: Activation;
}

export interface ParamLayout {
  readonly layers: readonly LayerLayout[];
  readonly paramCount: number;
}

/** The layout of a (validated) spec. */
export function paramLayout(spec: ModelSpec): ParamLayout {
  const layers: LayerLayout[] = [];
  let offset = 0;
  let fanIn = spec.inputs;
  for (const { units, activation } of spec.layers) {
    const wOffset = offset;
    const bOffset = wOffset + fanIn * units;
    layers.push({ wOffset, bOffset, fanIn, fanOut: units, activation });
    offset = bOffset + units;
    fanIn = units;
  }
  return { layers, paramCount: offset };
}
