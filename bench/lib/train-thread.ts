// A worker thread running its own single-thread training loop (LocalEngine,
// plain SGD or momentum): the machine-scaling baseline of the `threads` section runs
// several of these side by side, sharing nothing.
import { parentPort, workerData } from 'node:worker_threads';
import { createModel, Optimizer, Rng } from '@gradmesh/core';
import { batchIndices } from '@gradmesh/data';
import { loadDataset } from '@gradmesh/data/node';
import { LocalEngine, Trainer } from '@gradmesh/engine';
import { loadKernels, updateKernels } from '@gradmesh/engine/node';
import { datasetName, paramCountOf, specOf, type Arch } from './models.js';

const { arch, kernels: kname, microBatch, optimizer } = workerData as { arch: Arch; kernels: 'js' | 'wasm' | 'native'; microBatch: number; optimizer?: 'sgd' | 'momentum' };

async function setup(): Promise<Trainer> {
  const ds = await loadDataset(datasetName(arch));
  // The engine's loader (static imports): a worker thread cannot import() TypeScript by path.
  const { kernels } = loadKernels(kname, paramCountOf(arch));
  const model = createModel(specOf(arch), kernels);
  const params = new Float32Array(model.paramCount);
  model.initParams(params, new Rng(1));
  return new Trainer(params, new Optimizer({ kind: optimizer ?? 'sgd', lr: 0.01 }, model.paramCount, updateKernels(kernels)), new LocalEngine(model, ds.train), (t) => batchIndices(ds.train.n, arch.batch, 1, t), arch.batch, microBatch);
}

const ready = setup();
parentPort!.on('message', (steps: number) => {
  void ready.then(async (trainer) => {
    for (let s = 0; s < steps; s++) await trainer.trainStep();
    parentPort!.postMessage('done');
  }, (err: unknown) => parentPort!.postMessage({ error: err instanceof Error ? err.message : String(err) }));
});
