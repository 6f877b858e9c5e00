/**
 * The `kernels` section's training step, shared by the Node cell and the
 * browser's Web Worker (isomorphic: no Node imports): the same MLP on the
 * same synthetic rows, plain SGD, gradmesh's production step (Trainer +
 * LocalEngine: plan → gather → model → canonical tree → optimizer).
 */
import { createModel, Optimizer, Rng, type Kernels } from '@gradmesh/core';
import { batchIndices, synthetic, type Dataset } from '@gradmesh/data';
import { LocalEngine, Trainer } from '@gradmesh/engine';
import { SYNTHETIC_N, specOf, type Arch } from './models.js';

export const LR = 0.01;
export const SEED = 1;

/** The same rows `--dataset synthetic:784x10:8192` gives the CLI. */
export function kernelsData(a: Arch): Dataset {
  return synthetic(a.inputs, a.classes, SYNTHETIC_N, 0);
}

/** A trainer over `kernels`, one micro-batch per step unless told otherwise (the CLI's default is 32). */
export function kernelsTrainer(a: Arch, kernels: Kernels, microBatch = a.batch): Trainer {
  const ds = kernelsData(a);
  const model = createModel(specOf(a), kernels);
  const params = new Float32Array(model.paramCount);
  model.initParams(params, new Rng(SEED));
  const opt = new Optimizer({ kind: 'sgd', lr: LR }, model.paramCount);
  return new Trainer(params, opt, new LocalEngine(model, ds.train), (t) => batchIndices(ds.train.n, a.batch, SEED, t), a.batch, microBatch);
}
