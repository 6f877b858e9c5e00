/**
 * Web Worker side of the `kernels` section's browser cell: the same training
 * step as the Node `gradmesh` cell (Trainer + LocalEngine, plain SGD, one
 * micro-batch per step, synthetic:784x10:8192), with the kernels a browser
 * worker computes with (wasm, or the js reference). Bundled by esbuild into
 * one classic worker script; blocks are timed here, with the worker's clock.
 */
import { createModel, Optimizer, Rng } from '@gradmesh/core';
import { batchIndices, synthetic } from '@gradmesh/data';
import { LocalEngine, loadPortableKernels, Trainer } from '@gradmesh/engine';
import { paramCountOf, specOf, SYNTHETIC_N, type Arch } from '../lib/models.js';

export type WorkerRequest = { cmd: 'setup'; arch: Arch; kernels: 'wasm' | 'js' } | { cmd: 'block'; steps: number };
export type WorkerReply = { ok: true; ms?: number; loss?: number; kernels?: string } | { ok: false; error: string };

const LR = 0.01;
const SEED = 1;
let trainer: Trainer | null = null;

async function handle(req: WorkerRequest): Promise<WorkerReply> {
  if (req.cmd === 'setup') {
    const a = req.arch;
    const kernels = loadPortableKernels(req.kernels, paramCountOf(a));
    const ds = synthetic(a.inputs, a.classes, SYNTHETIC_N, 0);
    const model = createModel(specOf(a), kernels);
    const params = new Float32Array(model.paramCount);
    model.initParams(params, new Rng(SEED));
    const opt = new Optimizer({ kind: 'sgd', lr: LR }, model.paramCount);
    trainer = new Trainer(params, opt, new LocalEngine(model, ds.train), (t) => batchIndices(ds.train.n, a.batch, SEED, t), a.batch, a.batch);
    return { ok: true, kernels: kernels.name };
  }
  if (!trainer) throw new Error('block before setup');
  let loss = NaN;
  const t0 = performance.now();
  for (let s = 0; s < req.steps; s++) loss = (await trainer.trainStep()).loss;
  const ms = performance.now() - t0;
  if (!Number.isFinite(loss)) throw new Error(`diverged (loss ${loss})`);
  return { ok: true, ms, loss };
}

// The worker global, as much of it as this file uses (the bench compiles against Node's types, not the DOM's).
declare const self: { onmessage: ((e: { data: WorkerRequest }) => void) | null; postMessage(reply: WorkerReply): void };

self.onmessage = (e) => {
  handle(e.data).then(
    (r) => self.postMessage(r),
    (err: unknown) => self.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
};
