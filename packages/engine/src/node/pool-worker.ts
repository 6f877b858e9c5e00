import { workerData } from 'node:worker_threads';
import { ShardEngine } from '../shard-engine.js';
import { buildContext, type ComputeContext, type ContextSpec } from './context.js';

export interface PoolTask {
  step: number;
  batch: number;
  microBatch: number;
  mbLo: number;
  mbHi: number;
  indices: Uint32Array;
  /** Where to copy the nodes' gradients when they do not live in shared memory already (WASM kernels). */
  out: SharedArrayBuffer;
}

export interface PoolReply {
  /**
   * The task's canonical nodes. A node with `buf` lives in that shared
   * buffer at `offset` (bytes) — the thread's own gradient buffer, valid
   * until its next task; one without is at index i of the task's `out`.
   */
  nodes: Array<{ lo: number; hi: number; loss: number; buf?: SharedArrayBuffer; offset?: number }>;
  /** The thread's time on the task (ms). */
  ms: number;
}

const { context, paramsSab } = workerData as { context: ContextSpec; paramsSab: SharedArrayBuffer };
const shared = new Float32Array(paramsSab);

interface Ready {
  ctx: ComputeContext;
  engine: ShardEngine;
  /** The parameters the kernels read: the shared buffer itself, or a copy in WASM memory. */
  params: Float32Array;
  /** Whether gradients are computed straight into shared memory. */
  inPlace: boolean;
}
// Loaded once per thread on its first task, not per step. (Not top-level await:
// piscina's loader cannot import a TypeScript module that uses it under tsx.)
let ready: Promise<Ready> | undefined;

// Fault injection for tests: GRADMESH_FAULT_THREAD_STEP=N makes a thread throw at step N.
const faultStep = process.env.GRADMESH_FAULT_THREAD_STEP === undefined ? -1 : Number(process.env.GRADMESH_FAULT_THREAD_STEP);

async function setup(): Promise<Ready> {
  const ctx = await buildContext(context);
  // JS and native kernels work on any Float32Array: read the shared parameters
  // directly and compute gradients into shared buffers the main thread reads
  // in place. WASM kernels need both in their own memory: one copy each way.
  const inPlace = ctx.family !== 'wasm';
  const engine = new ShardEngine(ctx.model, ctx.data, inPlace ? (n) => new Float32Array(new SharedArrayBuffer(n * 4)) : undefined);
  return { ctx, engine, params: inPlace ? shared : engine.alloc(ctx.model.paramCount), inPlace };
}

export default async function run(task: PoolTask): Promise<PoolReply> {
  if (task.step === faultStep) throw new Error(`injected fault at step ${task.step} (GRADMESH_FAULT_THREAD_STEP)`);
  ready ??= setup();
  const { ctx, engine, params, inPlace } = await ready;
  const t0 = performance.now();
  if (!inPlace) params.set(shared);
  const { nodes } = engine.compute(params, task);
  if (inPlace) {
    return {
      nodes: nodes.map((n) => ({ lo: n.lo, hi: n.hi, loss: n.loss, buf: n.grad.buffer as SharedArrayBuffer, offset: n.grad.byteOffset })),
      ms: performance.now() - t0,
    };
  }
  const p = ctx.model.paramCount;
  const out = new Float32Array(task.out);
  if (nodes.length * p > out.length) throw new Error(`output slot too small for ${nodes.length} nodes`);
  nodes.forEach((n, i) => out.set(n.grad, i * p));
  return { nodes: nodes.map((n) => ({ lo: n.lo, hi: n.hi, loss: n.loss })), ms: performance.now() - t0 };
}
