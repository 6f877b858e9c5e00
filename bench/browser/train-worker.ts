/**
 * Web Worker side of the `kernels` section's browser cell: the Node
 * `gradmesh` cell's step (lib/kernels-step.ts), with the kernels a browser
 * worker computes with (wasm, or the js reference). Bundled by esbuild into
 * one classic worker script; blocks are timed here, with the worker's clock.
 */
import { loadPortableKernels, type Trainer } from '@gradmesh/engine';
import { kernelsTrainer } from '../lib/kernels-step.js';
import { paramCountOf, type Arch } from '../lib/models.js';

export type WorkerRequest = { cmd: 'setup'; arch: Arch; kernels: 'wasm' | 'js' } | { cmd: 'block'; steps: number };
export type WorkerReply = { ok: true; ms?: number; loss?: number; kernels?: string } | { ok: false; error: string };

let trainer: Trainer | null = null;

async function handle(req: WorkerRequest): Promise<WorkerReply> {
  if (req.cmd === 'setup') {
    const kernels = loadPortableKernels(req.kernels, paramCountOf(req.arch));
    trainer = kernelsTrainer(req.arch, kernels);
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
