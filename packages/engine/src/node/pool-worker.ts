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
  out: SharedArrayBuffer;
}

export interface PoolReply {
  nodes: Array<{ lo: number; hi: number; loss: number }>;
  /** The thread's time on the task: parameter copy, gradients, slot copy (ms). */
  ms: number;
}

const { context, paramsSab } = workerData as { context: ContextSpec; paramsSab: SharedArrayBuffer };
const shared = new Float32Array(paramsSab);
// Loaded once per thread on its first task, not per step. (Not top-level await:
// piscina's loader cannot import a TypeScript module that uses it under tsx.)
let ready: Promise<{ ctx: ComputeContext; engine: ShardEngine; params: Float32Array }> | undefined;

// Fault injection for tests: GRADMESH_FAULT_THREAD_STEP=N makes a thread throw at step N.
const faultStep = process.env.GRADMESH_FAULT_THREAD_STEP === undefined ? -1 : Number(process.env.GRADMESH_FAULT_THREAD_STEP);

export default async function run(task: PoolTask): Promise<PoolReply> {
  if (task.step === faultStep) throw new Error(`injected fault at step ${task.step} (GRADMESH_FAULT_THREAD_STEP)`);
  ready ??= buildContext(context).then((ctx) => {
    const engine = new ShardEngine(ctx.model, ctx.data);
    return { ctx, engine, params: engine.alloc(ctx.model.paramCount) };
  });
  const { ctx, engine, params } = await ready;
  const t0 = performance.now();
  // One copy per task into the kernels' memory (WASM), instead of one per micro-batch.
  params.set(shared);
  const { nodes } = engine.compute(params, task);
  const p = ctx.model.paramCount;
  const out = new Float32Array(task.out);
  if (nodes.length * p > out.length) throw new Error(`output slot too small for ${nodes.length} nodes`);
  nodes.forEach((n, i) => out.set(n.grad, i * p));
  return { nodes: nodes.map((n) => ({ lo: n.lo, hi: n.hi, loss: n.loss })), ms: performance.now() - t0 };
}
