import { createModel, Optimizer, Rng } from '@gradmesh/core';
import { batchIndices } from '@gradmesh/data';
import { loadDataset } from '@gradmesh/data/node';
import { LocalEngine, Trainer } from '@gradmesh/engine';
import { loadKernels, updateKernels } from '@gradmesh/engine/node';
import { datasetName, paramCountOf, specOf, LARGE } from './lib/models.js';
const ds = await loadDataset(datasetName(LARGE));
const { kernels } = loadKernels('wasm', paramCountOf(LARGE));
const model = createModel(specOf(LARGE), kernels!);
const params = new Float32Array(model.paramCount);
model.initParams(params, new Rng(1));
const tr = new Trainer(params, new Optimizer({ kind: 'sgd', lr: 0.01 }, model.paramCount, updateKernels(kernels!)), new LocalEngine(model, ds.train), (t) => batchIndices(ds.train.n, 128, 1, t), 128, 32);
const out: number[] = [];
for (let s = 0; s < 80; s++) { const t = performance.now(); await tr.trainStep(); out.push(performance.now() - t); }
console.log(out.map((x) => x.toFixed(0)).join(' '));
