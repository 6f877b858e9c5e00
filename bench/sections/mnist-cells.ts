/**
 * One MNIST training run per cell, an epoch per block: 784-128-10
 * relu/softmax, batch 64, the fixed 7,996/2,004 split, test accuracy after
 * every epoch. The clock runs only while training (evaluation is left out on
 * both sides).
 */
import { createModel, Optimizer, Rng, type OptimizerConfig } from '@gradmesh/core';
import { batchIndices, stepsPerEpoch } from '@gradmesh/data';
import { loadDataset } from '@gradmesh/data/node';
import { LocalEngine, Trainer, type GradientEngine } from '@gradmesh/engine';
import { PoolEngine, type ContextSpec } from '@gradmesh/engine/node';
import type { Cell } from '../lib/cell.js';
import { engineKernelChoices, loadKernels, type KernelName } from '../lib/kernel-sets.js';
import { paramCountOf, specOf } from '../lib/models.js';
import { loadTf } from '../lib/tfjs.js';
import { tfModel } from './kernels-cells.js';

export const MNIST_ARCH = { inputs: 784, hidden: [128], classes: 10 };
export const BATCH = 64;
const SEED = 1;

export interface EpochPoint {
  epoch: number;
  /** Training seconds of this epoch (evaluation excluded). */
  seconds: number;
  accuracy: number;
}

export async function gradmeshMnist(args: { kernels: KernelName; threads: number; microBatch: number; optimizer: OptimizerConfig; epochs: number }): Promise<Cell> {
  const { kernels, reason } = await loadKernels(args.kernels, paramCountOf(MNIST_ARCH));
  if (!kernels) throw new Error(reason ?? 'kernels unavailable');
  if (args.threads > 1 && args.kernels !== 'js' && !(await engineKernelChoices())?.includes(args.kernels)) {
    throw new Error(`the thread pool cannot run the ${args.kernels} kernels yet`);
  }
  const ds = await loadDataset('mnist');
  const spec = specOf(MNIST_ARCH);
  const model = createModel(spec, kernels);
  const params = new Float32Array(model.paramCount);
  model.initParams(params, new Rng(SEED));
  const opt = new Optimizer(args.optimizer, model.paramCount);
  const engine: GradientEngine =
    args.threads > 1
      ? new PoolEngine({ threads: args.threads, paramCount: model.paramCount, context: { dataset: 'mnist', spec, kernels: args.kernels } as ContextSpec })
      : new LocalEngine(model, ds.train);
  const trainer = new Trainer(params, opt, engine, (t) => batchIndices(ds.train.n, BATCH, SEED, t), BATCH, args.microBatch);
  const spe = stepsPerEpoch(ds.train.n, BATCH);
  let epoch = 0;
  return {
    info: { kernels: kernels.name, threads: args.threads, microBatch: args.microBatch, optimizer: args.optimizer },
    /** Trains `epochs` more epochs; the time returned leaves out the evaluation that follows each. */
    async block(epochs) {
      let ms = 0;
      const points: EpochPoint[] = [];
      for (let e = 0; e < epochs; e++) {
        const t0 = performance.now();
        for (let s = 0; s < spe; s++) await trainer.trainStep();
        const dt = performance.now() - t0;
        ms += dt;
        const ev = model.evaluate(params, ds.test.x, ds.test.y, ds.test.n);
        points.push({ epoch: ++epoch, seconds: dt / 1000, accuracy: ev.correct / ds.test.n });
      }
      return { ms, extra: { points } };
    },
    async close() {
      await engine.close();
    },
  };
}

/** TensorFlow.js: a layers model, Adam with its defaults (lr 0.001, ε 1e-7), model.fit one epoch at a time. */
export async function tfMnist(args: { backend: 'cpu' | 'wasm'; epochs: number }): Promise<Cell> {
  const { tf, tfl, detail } = await loadTf(args.backend);
  const ds = await loadDataset('mnist');
  const model = tfModel(tfl, MNIST_ARCH);
  model.compile({ optimizer: tf.train.adam(0.001), loss: 'categoricalCrossentropy' });
  const xs = tf.tensor2d(ds.train.x, [ds.train.n, 784]);
  const ys = tf.tensor2d(ds.train.y, [ds.train.n, 10]);
  const xt = tf.tensor2d(ds.test.x, [ds.test.n, 784]);
  const labels = tf.tidy(() => tf.argMax(tf.tensor2d(ds.test.y, [ds.test.n, 10]), 1).dataSync());
  let epoch = 0;
  return {
    info: { backend: detail, optimizer: 'adam lr 0.001 (TF.js defaults)' },
    async block(epochs) {
      let ms = 0;
      const points: EpochPoint[] = [];
      for (let e = 0; e < epochs; e++) {
        const t0 = performance.now();
        await model.fit(xs, ys, { batchSize: BATCH, epochs: 1, shuffle: true, verbose: 0, yieldEvery: 'never' });
        const dt = performance.now() - t0;
        ms += dt;
        const pred = tf.tidy(() => tf.argMax(model.predict(xt) as never, 1).dataSync());
        let correct = 0;
        for (let i = 0; i < ds.test.n; i++) if (pred[i] === labels[i]) correct++;
        points.push({ epoch: ++epoch, seconds: dt / 1000, accuracy: correct / ds.test.n });
      }
      return { ms, extra: { points } };
    },
  };
}
