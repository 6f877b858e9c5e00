/** Cells of the `threads` section: one engine each, and the pool's cost broken into parts. */
import { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { createModel, Optimizer, Rng } from '@gradmesh/core';
import { batchIndices } from '@gradmesh/data';
import { loadDataset } from '@gradmesh/data/node';
import { addInto, LocalEngine, reduceNodes, Trainer, type GradientEngine } from '@gradmesh/engine';
import { nodeAdd, PoolEngine, updateKernels, type ContextSpec } from '@gradmesh/engine/node';
import type { Cell } from '../lib/cell.js';
import { engineKernelChoices, loadKernels, type KernelName } from '../lib/kernel-sets.js';
import { datasetName, paramCountOf, specOf, type Arch } from '../lib/models.js';
import { median, repsFor, timeBlocks, timeBlocksAsync, timeBlocksCpu } from '../lib/stats.js';

const SEED = 1;

/** One training loop (Trainer, plain SGD or momentum) on LocalEngine or PoolEngine, both with the same kernel set. */
export async function engineCell(args: {
  arch: Arch;
  engine: 'local' | 'pool';
  threads: number;
  microBatch: number;
  kernels?: KernelName;
  minShardMs?: number;
  optimizer?: 'sgd' | 'momentum';
  /** The pool threads take this many times as long (GRADMESH_FAULT_THREAD_SLOW): a slower core. */
  slowThread?: number;
  /** PoolEngine's balance option (default true). */
  balance?: boolean;
}): Promise<Cell> {
  const a = args.arch;
  const name = datasetName(a);
  const ds = await loadDataset(name);
  const spec = specOf(a);
  const kname = args.kernels ?? 'js';
  const { kernels, reason } = await loadKernels(kname, paramCountOf(a));
  if (!kernels) throw new Error(reason ?? 'kernels unavailable');
  if (args.engine === 'pool' && kname !== 'js' && !(await engineKernelChoices())?.includes(kname)) {
    throw new Error(`PoolEngine cannot run the ${kname} kernels yet`);
  }
  const model = createModel(spec, kernels);
  // This cell's process is its own: the threads PoolEngine starts inherit the setting.
  if (args.slowThread !== undefined) process.env.GRADMESH_FAULT_THREAD_SLOW = String(args.slowThread);
  const engine: GradientEngine =
    args.engine === 'pool'
      ? new PoolEngine({
          threads: args.threads,
          paramCount: model.paramCount,
          context: { dataset: name, spec, kernels: kname } as ContextSpec,
          ...(args.minShardMs !== undefined ? { minShardMs: args.minShardMs } : {}),
          ...(args.balance !== undefined ? { balance: args.balance } : {}),
        })
      : new LocalEngine(model, ds.train);
  // As the CLI does: the pool's threads read the trainer's parameters in place.
  const params = engine.paramsBuffer ?? new Float32Array(model.paramCount);
  model.initParams(params, new Rng(SEED));
  // The update as the CLI runs it (the fastest axpy; the same bits whichever).
  const trainer = new Trainer(params, new Optimizer({ kind: args.optimizer ?? 'sgd', lr: 0.01 }, model.paramCount, updateKernels(kernels)), engine, (t) => batchIndices(ds.train.n, a.batch, SEED, t), a.batch, args.microBatch);
  return {
    info: { engine: engine.kind, threads: engine.threads, microBatch: args.microBatch, kernels: kernels.name },
    async block(steps) {
      let loss = NaN;
      for (let s = 0; s < steps; s++) loss = (await trainer.trainStep()).loss;
      if (!Number.isFinite(loss)) throw new Error(`diverged (loss ${loss})`);
      // Shards the pool split the block's last step into (it keeps small steps on one thread).
      return engine instanceof PoolEngine ? { extra: { shards: engine.lastShards, split: engine.lastSplit.join(':') } } : undefined;
    },
    async close() {
      await engine.close();
    },
  };
}

/**
 * Where the pool's per-step time goes, part by part: the message round trip
 * through piscina (a no-op task of PoolEngine's shape) next to raw
 * worker_threads postMessage and an Atomics.wait/notify ping-pong (the floor
 * for shared-memory signalling), and the memory traffic that scales with the
 * model: the parameter write into the SharedArrayBuffer, a thread's gradient
 * copy into its shared slot, and the reduction of two threads' gradients.
 */
export async function poolBreakdown(args: { archs: Arch[]; runs: number; blockMs: number }): Promise<Cell> {
  return {
    async block() {
      const us = (ms: number[]): number => median(ms) * 1000;
      const rows: Array<{ part: string; us: Record<string, number> }> = [];
      const indices = new Uint32Array(64);
      const blockReps = (perCallUs: number): number => Math.max(50, Math.round((args.blockMs * 1000) / perCallUs));

      const pool1 = new Piscina({ filename: new URL('../lib/noop-worker.mjs', import.meta.url).href, minThreads: 1, maxThreads: 1, idleTimeout: 2 ** 31 - 1 });
      const out = new SharedArrayBuffer(1024);
      const task = () => pool1.run({ step: 0, batch: 64, microBatch: 32, mbLo: 0, mbHi: 2, indices: indices.slice(), out });
      await timeBlocksAsync(task, 200, 1);
      const rtPiscina = us(await timeBlocksAsync(task, blockReps(60), args.runs));
      await pool1.destroy();
      const pool2 = new Piscina({ filename: new URL('../lib/noop-worker.mjs', import.meta.url).href, minThreads: 2, maxThreads: 2, idleTimeout: 2 ** 31 - 1 });
      const task2 = () => Promise.all([0, 1].map((p) => pool2.run({ step: 0, batch: 64, microBatch: 32, mbLo: p, mbHi: p + 1, indices: indices.slice(0, 32), out })));
      await timeBlocksAsync(task2, 200, 1);
      const rtPiscina2 = us(await timeBlocksAsync(task2, blockReps(80), args.runs));
      await pool2.destroy();

      const w = new Worker(new URL('../lib/echo-worker.mjs', import.meta.url));
      const echo = () => new Promise<void>((res) => { w.once('message', () => res()); w.postMessage({ indices: indices.slice() }); });
      await timeBlocksAsync(echo, 200, 1);
      const rtRaw = us(await timeBlocksAsync(echo, blockReps(40), args.runs));
      const pings = blockReps(10) * (args.runs + 1);
      const sab = new SharedArrayBuffer(8);
      const flag = new Int32Array(sab);
      w.postMessage({ sab, count: pings });
      const ping = (): void => {
        const n = Atomics.add(flag, 0, 1) + 1;
        Atomics.notify(flag, 0);
        while (Atomics.load(flag, 1) !== n) Atomics.wait(flag, 1, n - 1, 50);
      };
      const rtAtomics = us(timeBlocks(ping, Math.floor(pings / (args.runs + 1)), args.runs));
      Atomics.store(flag, 0, pings); // let the echo loop finish
      Atomics.notify(flag, 0);
      await w.terminate();

      rows.push({ part: 'piscina run() round trip, 1 task (no-op worker)', us: { all: rtPiscina } });
      rows.push({ part: 'piscina, 2 tasks on 2 threads (Promise.all)', us: { all: rtPiscina2 } });
      rows.push({ part: 'raw worker_threads postMessage round trip', us: { all: rtRaw } });
      rows.push({ part: 'Atomics.wait/notify round trip (shared-memory floor)', us: { all: rtAtomics } });
      const copy: Record<string, number> = {};
      const slot: Record<string, number> = {};
      const reduce: Record<string, number> = {};
      // What PoolEngine merges with (nodeAdd: native axpy when the addon loads, the same bits as addInto).
      const add = nodeAdd();
      for (const a of args.archs) {
        const P = paramCountOf(a);
        const src = new Float32Array(P).fill(0.5);
        const shared = new Float32Array(new SharedArrayBuffer(P * 4));
        const slotBuf = new Float32Array(new SharedArrayBuffer(3 * P * 4));
        const dst = new Float32Array(P);
        // Pure computation: CPU time per call (robust to other load on the machine).
        const f1 = () => shared.set(src);
        copy[a.name] = us(timeBlocksCpu(f1, repsFor(f1, args.blockMs), args.runs));
        const f2 = () => slotBuf.set(src, P);
        slot[a.name] = us(timeBlocksCpu(f2, repsFor(f2, args.blockMs), args.runs));
        const f3 = () => add(dst, src);
        reduce[a.name] = us(timeBlocksCpu(f3, repsFor(f3, args.blockMs), args.runs));
      }
      rows.push({ part: 'parameters → SharedArrayBuffer (setParams, per step)', us: copy });
      rows.push({ part: "a thread's gradient → shared memory (WASM: each thread's nodes, per step)", us: slot });
      rows.push({ part: `reduce 2 threads: the pool's add (${add === addInto ? 'JS loop' : 'native SIMD axpy'}, per step)`, us: reduce });
      // reduceNodes' bookkeeping alone, on a 2-leaf tree of tiny buffers.
      const g = () => reduceNodes(2, 0, 2, [{ lo: 0, hi: 1, loss: 0, grad: new Float32Array(4) }, { lo: 1, hi: 2, loss: 0, grad: new Float32Array(4) }]);
      rows.push({ part: 'reduceNodes bookkeeping (2 nodes, no data)', us: { all: us(timeBlocksCpu(g, repsFor(g, args.blockMs), args.runs)) } });
      return { extra: { rows } };
    },
  };
}

/**
 * The machine's own scaling, the premise of the pool's: `copies` independent
 * single-thread training loops (LocalEngine, full batch each) in as many
 * worker threads, sharing nothing and never waiting for each other. Their
 * combined samples/s over one loop's is what the cores deliver for this
 * workload (memory bandwidth, shared caches, a VM's vCPUs); a pool splitting
 * one batch cannot beat it.
 */
export async function independentCell(args: { arch: Arch; copies: number; microBatch: number; kernels?: KernelName; optimizer?: 'sgd' | 'momentum' }): Promise<Cell> {
  const threads = Array.from({ length: args.copies }, () =>
    new Worker(new URL('../lib/train-thread.mjs', import.meta.url), {
      workerData: { arch: args.arch, kernels: args.kernels ?? 'js', microBatch: args.microBatch, optimizer: args.optimizer ?? 'sgd' },
      // The thread loads TypeScript: it needs tsx and the source condition, as PoolEngine's threads do.
      execArgv: ['--import', 'tsx', '--conditions=@gradmesh/source'],
    }),
  );
  const run = (steps: number): Promise<void> =>
    Promise.all(
      threads.map(
        (w) =>
          new Promise<void>((res, rej) => {
            w.once('message', (m: unknown) => (m === 'done' ? res() : rej(new Error((m as { error: string }).error))));
            w.postMessage(steps);
          }),
      ),
    ).then(() => undefined);
  await run(1);
  return {
    info: { copies: args.copies, kernels: args.kernels ?? 'js' },
    block: (steps) => run(steps),
    async close() {
      await Promise.all(threads.map((w) => w.terminate()));
    },
  };
}
