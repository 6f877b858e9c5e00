import { createModel, Optimizer, Rng, type ModelSpec } from '@gradmesh/core';
import { batchIndices, spirals } from '@gradmesh/data';
import { LocalEngine, Trainer } from '@gradmesh/engine';

// A small run for in-process coordinator tests: spirals, 2-8-3, batch 32 in micro-batches of 4, SGD.

export const spec: ModelSpec = { inputs: 2, layers: [{ units: 8, activation: 'tanh' }, { units: 3, activation: 'softmax' }], loss: 'softmax_xent' };
export const ds = spirals({ seed: 1 });
export const B = 32;
export const MB = 4;

/** Fresh model, initial parameters and optimizer: the same every call. */
export function setup() {
  const model = createModel(spec);
  const params = new Float32Array(model.paramCount);
  model.initParams(params, new Rng(5));
  return { model, params, optimizer: new Optimizer({ kind: 'sgd', lr: 0.1 }, model.paramCount) };
}

/** The step plan every test shares. */
export const plan = (s: number) => batchIndices(ds.train.n, B, 1, s);

/** The parameters single-process training reaches after `steps` steps. */
export async function reference(steps: number): Promise<Float32Array> {
  const { model, params, optimizer } = setup();
  const t = new Trainer(params, optimizer, new LocalEngine(model, ds.train), plan, B, MB);
  for (let s = 0; s < steps; s++) await t.trainStep();
  return params;
}
