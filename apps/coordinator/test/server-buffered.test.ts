import { createModel, Optimizer, Rng, type ModelSpec } from '@gradmesh/core';
import { batchIndices } from '@gradmesh/data';
import { loadDataset } from '@gradmesh/data/node';
import { LocalEngine, Trainer } from '@gradmesh/engine';
import { runWorker } from '@gradmesh/worker';
import { expect, test } from 'vitest';
import { Coordinator } from '../src/coordinator/coordinator.js';
import { CoordinatorServer } from '../src/coordinator/server.js';

// 2-256-128-3: 34,051 parameters, a 136 KB params frame — over twice the 64 KiB queue limit below.
const spec: ModelSpec = { inputs: 2, layers: [{ units: 256, activation: 'tanh' }, { units: 128, activation: 'tanh' }, { units: 3, activation: 'softmax' }], loss: 'softmax_xent' };
const B = 32;
const MB = 8;
const STEPS = 6;
// The dataset as the worker loads it by name.
const ds = await loadDataset('spirals');
const plan = (s: number) => batchIndices(ds.train.n, B, 1, s);

function setup() {
  const model = createModel(spec);
  const params = new Float32Array(model.paramCount);
  model.initParams(params, new Rng(3));
  return { model, params, optimizer: new Optimizer({ kind: 'sgd', lr: 0.05 }, model.paramCount) };
}

test('a worker sent parameter frames larger than the slow-consumer limit is not dropped: only bytes earlier turns left unwritten count', { timeout: 30_000 }, async () => {
  const { model, params, optimizer } = setup();
  const coord = new Coordinator({
    run: { runId: 'big-frames', dataset: 'spirals', datasetUrl: null, spec: spec as never, paramCount: model.paramCount, batch: B, microBatch: MB, seed: 1, kernels: 'js' },
    params,
    optimizer,
    plan,
    startStep: 0,
    totalSteps: STEPS,
    minWorkers: 1,
  });
  const token = 'buffered-test-token';
  const server = new CoordinatorServer(coord, { host: '127.0.0.1', port: 0, token, maxBufferedBytes: 64 << 10 });
  const url = `${(await server.listen()).replace(/^http/, 'ws')}/ws`;
  const left: string[] = [];
  coord.on('log', (line: string) => {
    if (/left/.test(line)) left.push(line);
  });
  const worker = runWorker({ url, token, threads: 1, name: 'big-frames' });
  try {
    await coord.run();
    coord.finish('test done');
    await worker;
  } finally {
    await server.close();
  }
  expect(left.filter((l) => /RATE_LIMITED|too slow/.test(l))).toEqual([]);
  expect(coord.ledger.entries.filter((e) => e.status === 'lost')).toEqual([]);
  // And the steps are single-process training's.
  const ref = setup();
  const t = new Trainer(ref.params, ref.optimizer, new LocalEngine(ref.model, ds.train), plan, B, MB);
  for (let s = 0; s < STEPS; s++) await t.trainStep();
  expect(Buffer.from(params.buffer).equals(Buffer.from(ref.params.buffer))).toBe(true);
});
