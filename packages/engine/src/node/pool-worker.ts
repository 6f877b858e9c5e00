import { threadId, workerData, type MessagePort } from 'node:worker_threads';
import { Optimizer, type OptimizerConfig } from '@gradmesh/core';
import { ShardEngine } from '../shard-engine.js';
import { BufferPool } from '../buffer-pool.js';
import { microBatchCount } from '../microbatch.js';
import type { TreeNode } from '../tree.js';
import { buildContext, type ComputeContext, type ContextSpec } from './context.js';
import { nodeAdd, updateKernels } from './kernels.js';
import {
  acknowledge, BATCH, BufferRegistry, CMD, CMD_COMPUTE, CMD_FINISH, CMD_STOP, COMPUTE_US, FHI, finishRange, FLO, laneOf, MBHI, MBLO, MICRO, NIDX,
  OPT_T, OPT_VERSION, readNodes, SEQ, STEP, UB, UPDATE, waitChange, writeError, writeNodes, type LaneShape,
} from './pool-lanes.js';

/** One session of a pool thread: it serves its lane until told to stop. */
export interface ServeTask extends LaneShape {
  lane: SharedArrayBuffer;
  /** Gradient buffers and optimizers arrive here, and this thread's own buffers leave by it. */
  port: MessagePort;
}

/** An optimizer handed to the threads: its config and its state in shared memory. */
export interface OptimizerMessage {
  optimizer: { version: number; config: OptimizerConfig; state: SharedArrayBuffer; length: number };
}

const { context, paramsSab } = workerData as { context: ContextSpec; paramsSab: SharedArrayBuffer };
const shared = new Float32Array(paramsSab);

interface Ready {
  ctx: ComputeContext;
  engine: ShardEngine;
  /** The parameters the kernels read: the shared buffer itself, or a copy in WASM memory. */
  params: Float32Array;
  /** Where gradients end up in shared memory: the engine's own buffers (JS, native), or copies of them (WASM). */
  copies: BufferPool | null;
}
// Loaded once per thread, not per session or step. (Not top-level await:
// piscina's loader cannot import a TypeScript module that uses it under tsx.)
let ready: Promise<Ready> | undefined;

/** This thread's shared gradient buffers, by array, and the order they were made in (a new session learns them all). */
const ownIds = new Map<Float32Array, number>();
let session: { port: MessagePort } | null = null;

function sharedBuffer(n: number): Float32Array {
  const a = new Float32Array(new SharedArrayBuffer(n * 4));
  const id = threadId * 2 ** 20 + ownIds.size;
  ownIds.set(a, id);
  session?.port.postMessage({ id, sab: a.buffer });
  return a;
}

// Fault injection for tests: GRADMESH_FAULT_THREAD_STEP=N makes a thread throw at step N;
// N:exit makes it end the thread there instead (as a crash or an out-of-memory kill would).
const fault = /^(\d+)(:exit)?$/.exec(process.env.GRADMESH_FAULT_THREAD_STEP ?? '');
const faultStep = fault ? Number(fault[1]) : -1;
// GRADMESH_FAULT_THREAD_SLOW=F makes every pool thread take F times as long over its shards (it spins
// after computing), as a slower core would: a hybrid CPU's efficiency cores, a busier vCPU.
const slowFactor = Math.max(1, Number(process.env.GRADMESH_FAULT_THREAD_SLOW) || 1);

async function setup(): Promise<Ready> {
  const ctx = await buildContext(context);
  // JS and native kernels work on any Float32Array: read the shared parameters
  // directly and compute gradients straight into shared buffers. WASM kernels
  // need both in their own memory: one copy each way.
  const inPlace = ctx.family !== 'wasm';
  const P = ctx.model.paramCount;
  const engine = new ShardEngine(ctx.model, ctx.data, inPlace ? sharedBuffer : undefined);
  return { ctx, engine, params: inPlace ? shared : engine.alloc(P), copies: inPlace ? null : new BufferPool(P, sharedBuffer) };
}

/**
 * Serves one lane: compute commands (a shard of a step, answered with its
 * tree nodes by buffer id) and finish commands (merge every participant's
 * nodes over an element range, and apply the optimizer there), until stop.
 * A command that throws is answered with its message; the session goes on.
 */
export default async function serve(task: ServeTask): Promise<void> {
  const lane = laneOf(task.lane, task);
  const { ctrl } = lane;
  session = { port: task.port };
  for (const [a, id] of ownIds) task.port.postMessage({ id, sab: a.buffer });
  let r: Ready | undefined;
  let setupError: unknown;
  try {
    r = await (ready ??= setup());
  } catch (err) {
    setupError = err;
  }
  const P = r?.ctx.model.paramCount ?? 0;
  const registry = new BufferRegistry(P);
  for (const [a, id] of ownIds) registry.add(id, a.buffer as SharedArrayBuffer);
  let optimizer: { version: number; opt: Optimizer } | null = null;
  const onMessage = (msg: unknown): void => {
    const o = (msg as Partial<OptimizerMessage>).optimizer;
    if (o && r) {
      const opt = new Optimizer(o.config, P, updateKernels(r.ctx.kernels));
      opt.state = new Float32Array(o.state, 0, o.length);
      optimizer = { version: o.version, opt };
    }
  };
  const add = nodeAdd();
  let seq = 0; // a new lane: a command may have been posted while the thread set up
  // Spin this long for the next command before sleeping: a step's finish follows its compute within about a shard's time.
  let spinMs = 0.5;
  for (;;) {
    seq = await waitChange(ctrl, SEQ, seq, spinMs);
    const cmd = ctrl[CMD];
    if (cmd === CMD_STOP) {
      session = null;
      acknowledge(ctrl, seq);
      return;
    }
    try {
      if (!r) throw setupError;
      if (cmd === CMD_COMPUTE) {
        const step = ctrl[STEP]!;
        if (step === faultStep) {
          if (fault![2]) process.exit(70);
          throw new Error(`injected fault at step ${step} (GRADMESH_FAULT_THREAD_STEP)`);
        }
        if (r.copies) r.params.set(shared);
        const t0 = performance.now();
        const { nodes } = r.engine.compute(r.params, {
          step, batch: ctrl[BATCH]!, microBatch: ctrl[MICRO]!, mbLo: ctrl[MBLO]!, mbHi: ctrl[MBHI]!, indices: lane.indices.subarray(0, ctrl[NIDX]!),
        });
        if (slowFactor > 1) for (const until = t0 + slowFactor * (performance.now() - t0); performance.now() < until; );
        ctrl[COMPUTE_US] = Math.round((performance.now() - t0) * 1000);
        r.copies?.reset();
        writeNodes(lane, nodes.map((n) => {
          let g = n.grad;
          if (r!.copies) {
            g = r!.copies.take();
            g.set(n.grad);
          }
          return { lo: n.lo, hi: n.hi, loss: n.loss, id: ownIds.get(g)! };
        }));
        spinMs = 2;
      } else if (cmd === CMD_FINISH) {
        // Everything posted before this command (buffers, an optimizer) is waiting on the port.
        registry.drain(task.port, onMessage);
        const nodes: TreeNode[] = readNodes(lane).map((n) => ({ lo: n.lo, hi: n.hi, loss: n.loss, grad: registry.get(n.id, task.port, onMessage) }));
        let update: ((root: Float32Array, lo: number, hi: number) => void) | undefined;
        if (ctrl[UPDATE] === 1) {
          const o = optimizer as { version: number; opt: Optimizer } | null;
          if (!o || o.version !== ctrl[OPT_VERSION]) throw new Error(`optimizer version ${ctrl[OPT_VERSION]} never arrived`);
          o.opt.t = ctrl[OPT_T]!;
          const B = ctrl[UB]!;
          update = (root, lo, hi) => o.opt.applyRange(shared, root, B, lo, hi);
        }
        finishRange(microBatchCount(ctrl[BATCH]!, ctrl[MICRO]!), ctrl[MBLO]!, ctrl[MBHI]!, nodes, ctrl[FLO]!, ctrl[FHI]!, add, update);
        spinMs = 0.5;
      } else {
        throw new Error(`unknown pool command ${cmd}`);
      }
    } catch (err) {
      writeError(lane, err);
    }
    acknowledge(ctrl, seq);
  }
}
