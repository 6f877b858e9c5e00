import { Optimizer, Rng, type ModelSpec, type OptimizerConfig } from '@gradmesh/core';
import { afterEach, describe, expect, test } from 'vitest';
import { LocalEngine, Trainer, type GradientEngine, type GradTask, type TreeNode } from '../src/index.js';
import { buildContext, loadKernels, PoolEngine, underTsx } from '../src/node/index.js';

const spec: ModelSpec = { inputs: 2, layers: [{ units: 32, activation: 'tanh' }, { units: 3, activation: 'softmax' }], loss: 'softmax_xent' };
const bitsOf = (a: Float32Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');
const bits = (n: TreeNode): string => `${n.lo}-${n.hi} ${n.loss} ${Buffer.from(n.grad.buffer, n.grad.byteOffset, n.grad.byteLength).toString('hex')}`;

// 10 micro-batches of 6 (the last short), and a task over [1, 9): unaligned, so the
// result is several canonical nodes and every split cuts the tree somewhere else.
const task = (step: number): GradTask => ({ step, batch: 58, microBatch: 6, mbLo: 1, mbHi: 9, indices: Uint32Array.from({ length: 48 }, (_, i) => (i * 7 + step) % 300) });

const engines: GradientEngine[] = [];

/** Fresh parameters (seeded) handed to every engine given, which the test closes at its end. */
function withParams(model: { paramCount: number; initParams(p: Float32Array, r: Rng): void }, seed: number, ...given: GradientEngine[]): Float32Array {
  engines.push(...given);
  const params = new Float32Array(model.paramCount);
  model.initParams(params, new Rng(seed));
  for (const e of given) e.setParams(0, params);
  return params;
}
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
  delete process.env.GRADMESH_FAULT_THREAD_STEP;
  delete process.env.GRADMESH_FAULT_THREAD_SLOW;
});

describe('PoolEngine: the calling thread and N − 1 pool threads', () => {
  const families = (['js', 'wasm', 'native'] as const).filter((k) => k !== 'native' || loadKernels('auto', 1).family === 'native');
  test.each(families)('1, 2 and 3 threads give LocalEngine bits, step after step (%s kernels)', async (kernels) => {
    const ctx = await buildContext({ dataset: 'spirals', spec, kernels });
    const local = new LocalEngine(ctx.model, ctx.data);
    const pools = [1, 2, 3].map((threads) => new PoolEngine({ threads, paramCount: ctx.model.paramCount, context: { dataset: 'spirals', spec, kernels }, minShardMs: 0 }));
    engines.push(local, ...pools);
    const params = new Float32Array(ctx.model.paramCount);
    const rng = new Rng(5);
    for (let step = 0; step < 3; step++) {
      ctx.model.initParams(params, rng); // new parameters every step: nothing may be read stale
      local.setParams(step, params);
      const want = (await local.compute(task(step))).nodes.map(bits);
      expect(want.length).toBeGreaterThan(1);
      for (const pool of pools) {
        pool.setParams(step, params);
        const r = await pool.compute(task(step));
        expect(pool.lastShards).toBe(pool.threads);
        expect(r.nodes.map(bits)).toEqual(want);
        expect(r.samples).toBe(48);
      }
    }
  });

  test("a pool thread's failure rejects the step with its number, and the next step computes", async () => {
    process.env.GRADMESH_FAULT_THREAD_STEP = '4';
    const ctx = await buildContext({ dataset: 'spirals', spec, kernels: 'js' });
    const pool = new PoolEngine({ threads: 2, paramCount: ctx.model.paramCount, context: { dataset: 'spirals', spec, kernels: 'js' }, minShardMs: 0 });
    withParams(ctx.model, 1, pool);
    await expect(pool.compute(task(4))).rejects.toThrow(/^step 4: a worker thread failed: .*injected fault/);
    const r = await pool.compute(task(5));
    expect(r.samples).toBe(48);
  });

  test('a step too small to pay for a second thread stays on the caller, with the same bits; a heavy one is split', async () => {
    const ctx = await buildContext({ dataset: 'spirals', spec, kernels: 'js' });
    const local = new LocalEngine(ctx.model, ctx.data);
    const small = new PoolEngine({ threads: 3, paramCount: ctx.model.paramCount, context: { dataset: 'spirals', spec, kernels: 'js' } });
    // A shard threshold no step can reach, and one every step does.
    const never = new PoolEngine({ threads: 3, paramCount: ctx.model.paramCount, context: { dataset: 'spirals', spec, kernels: 'js' }, minShardMs: 1e9 });
    const always = new PoolEngine({ threads: 3, paramCount: ctx.model.paramCount, context: { dataset: 'spirals', spec, kernels: 'js' }, minShardMs: 1e-9 });
    const params = withParams(ctx.model, 2, local, small, never, always);
    const shards: number[][] = [[], [], []];
    for (let step = 0; step < 12; step++) {
      const want = (await local.compute(task(step))).nodes.map(bits);
      for (const [i, pool] of [small, never, always].entries()) {
        pool.setParams(step, params);
        expect((await pool.compute(task(step))).nodes.map(bits)).toEqual(want);
        shards[i]!.push(pool.lastShards);
      }
    }
    // The first step splits (nothing measured yet); once the median of 5 measurements stands (a slow
    // first step while the pools start up does not move it), a 48-row step of this tiny model —
    // well under 2 ms — stays whole.
    expect(shards[0]![0]).toBe(3);
    expect(shards[0]!.slice(6)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(shards[1]!.slice(1)).toEqual(Array(11).fill(1));
    expect(shards[2]).toEqual(Array(12).fill(3));
  });

  // Trainer + PoolEngine takes each step with computeAndApply: the merge and the update split by
  // element range over the threads (the optimizer's state in shared memory). Same bits as one thread.
  test.each(families)('computeAndApply: training over 1, 2 and 3 threads takes LocalEngine steps bit for bit, for every optimizer (%s kernels)', async (kernels) => {
    const ctx = await buildContext({ dataset: 'spirals', spec, kernels });
    const P = ctx.model.paramCount;
    const configs: OptimizerConfig[] = [
      { kind: 'sgd', lr: 0.1 },
      { kind: 'momentum', lr: 0.05, weightDecay: 1e-3 },
      { kind: 'adamw', lr: 0.01, weightDecay: 0.01, schedule: { kind: 'cosine', totalSteps: 6 } },
      { kind: 'sgd', lr: 0.1, clipNorm: 0.5 }, // not element-wise: compute() then apply()
    ];
    const plan = (t: number) => ({ epoch: 0, indices: Uint32Array.from({ length: 60 }, (_, i) => (i * 13 + t * 7) % ctx.data.n) });
    for (const cfg of configs) {
      const train = async (engine: GradientEngine): Promise<{ params: Float32Array; losses: number[]; opt: Optimizer }> => {
        engines.push(engine);
        const params = engine.paramsBuffer ?? new Float32Array(P);
        ctx.model.initParams(params, new Rng(9));
        const opt = new Optimizer(cfg, P);
        const trainer = new Trainer(params, opt, engine, plan, 60, 6);
        const losses: number[] = [];
        for (let i = 0; i < 6; i++) losses.push((await trainer.trainStep()).loss);
        await engine.close();
        return { params, losses, opt };
      };
      const want = await train(new LocalEngine(ctx.model, ctx.data));
      for (const threads of [1, 2, 3]) {
        const pool = new PoolEngine({ threads, paramCount: P, context: { dataset: 'spirals', spec, kernels }, minShardMs: 0 });
        const got = await train(pool);
        expect(pool.lastShards).toBe(threads);
        expect(got.losses, `${cfg.kind} ${threads} threads`).toEqual(want.losses);
        expect(bitsOf(got.params), `${cfg.kind} ${threads} threads`).toBe(bitsOf(want.params));
        expect(bitsOf(got.opt.getState().state)).toBe(bitsOf(want.opt.getState().state));
        expect(got.opt.t).toBe(6);
      }
    }
  });

  // A hybrid CPU's efficiency core, or a busier vCPU: the pool thread takes 4× as long over its shard.
  test('a thread slower than the caller gets fewer micro-batches and a smaller share of the merge, with the same bits', async () => {
    process.env.GRADMESH_FAULT_THREAD_SLOW = '4';
    const heavy: ModelSpec = { inputs: 2, layers: [{ units: 192, activation: 'tanh' }, { units: 192, activation: 'tanh' }, { units: 3, activation: 'softmax' }], loss: 'softmax_xent' };
    const ctx = await buildContext({ dataset: 'spirals', spec: heavy, kernels: 'js' });
    const P = ctx.model.paramCount;
    const plan = (t: number) => ({ epoch: 0, indices: Uint32Array.from({ length: 64 }, (_, i) => (i * 11 + t * 5) % ctx.data.n) });
    const train = async (engine: GradientEngine, splits: number[][]): Promise<{ params: Float32Array; losses: number[] }> => {
      engines.push(engine);
      const params = engine.paramsBuffer ?? new Float32Array(P);
      ctx.model.initParams(params, new Rng(4));
      const trainer = new Trainer(params, new Optimizer({ kind: 'momentum', lr: 0.05 }, P), engine, plan, 64, 8);
      const losses: number[] = [];
      for (let i = 0; i < 8; i++) {
        losses.push((await trainer.trainStep()).loss);
        if (engine instanceof PoolEngine) splits.push(engine.lastSplit);
      }
      return { params, losses };
    };
    const want = await train(new LocalEngine(ctx.model, ctx.data), []);
    const splits: number[][] = [];
    const got = await train(new PoolEngine({ threads: 2, paramCount: P, context: { dataset: 'spirals', spec: heavy, kernels: 'js' }, minShardMs: 0 }), splits);
    expect(got.losses).toEqual(want.losses);
    expect(bitsOf(got.params)).toBe(bitsOf(want.params));
    // Equal shards until both speeds are measured (3 steps); then the caller, 4× as fast, takes 6 of the 8 micro-batches.
    expect(splits.slice(0, 3)).toEqual([[4, 4], [4, 4], [4, 4]]);
    expect(splits.at(-1)![0]).toBeGreaterThanOrEqual(6);
    expect(splits.at(-1)![1]).toBeGreaterThanOrEqual(1);
  });

  test('computeAndApply refuses a task that is not the whole batch, and an optimizer that clips', async () => {
    const ctx = await buildContext({ dataset: 'spirals', spec, kernels: 'js' });
    const pool = new PoolEngine({ threads: 2, paramCount: ctx.model.paramCount, context: { dataset: 'spirals', spec, kernels: 'js' } });
    engines.push(pool);
    await expect(pool.computeAndApply(task(0), new Optimizer({ kind: 'sgd', lr: 1 }, ctx.model.paramCount))).rejects.toThrow(/takes a whole batch, got micro-batches \[1, 9\) of 10/);
    await expect(pool.computeAndApply(task(0), new Optimizer({ kind: 'sgd', lr: 1, clipNorm: 1 }, ctx.model.paramCount))).rejects.toThrow(/not element-wise/);
  });

  test('a pool thread that dies mid-step fails that step with its number, not a hang; the next step runs on a new thread', async () => {
    process.env.GRADMESH_FAULT_THREAD_STEP = '2:exit';
    const ctx = await buildContext({ dataset: 'spirals', spec, kernels: 'js' });
    const local = new LocalEngine(ctx.model, ctx.data);
    const pool = new PoolEngine({ threads: 2, paramCount: ctx.model.paramCount, context: { dataset: 'spirals', spec, kernels: 'js' }, minShardMs: 0 });
    withParams(ctx.model, 3, local, pool);
    expect((await pool.compute(task(1))).nodes.map(bits)).toEqual((await local.compute(task(1))).nodes.map(bits));
    await expect(pool.compute(task(2))).rejects.toThrow(/^step 2: a worker thread failed: .*exit/i);
    delete process.env.GRADMESH_FAULT_THREAD_STEP; // (read by threads when they start: the replacement has it too, at step 2 only)
    expect((await pool.compute(task(3))).nodes.map(bits)).toEqual((await local.compute(task(3))).nodes.map(bits));
  });

  test('a task with more samples than the threads were set up for restarts them, with the same bits', async () => {
    const kernels = families.at(-1)!;
    const ctx = await buildContext({ dataset: 'spirals', spec, kernels });
    const local = new LocalEngine(ctx.model, ctx.data);
    const pool = new PoolEngine({ threads: 3, paramCount: ctx.model.paramCount, context: { dataset: 'spirals', spec, kernels }, minShardMs: 0 });
    withParams(ctx.model, 4, local, pool);
    const big: GradTask = { step: 1, batch: 5000, microBatch: 50, mbLo: 0, mbHi: 100, indices: Uint32Array.from({ length: 5000 }, (_, i) => (i * 31) % ctx.data.n) };
    for (const t of [task(0), big, task(2)]) expect((await pool.compute(t)).nodes.map(bits)).toEqual((await local.compute(t)).nodes.map(bits));
  });

  test('closing the pool while a step is in flight ends that step with an error, never a hang', async () => {
    const ctx = await buildContext({ dataset: 'spirals', spec, kernels: 'js' });
    const pool = new PoolEngine({ threads: 2, paramCount: ctx.model.paramCount, context: { dataset: 'spirals', spec, kernels: 'js' }, minShardMs: 0 });
    withParams(ctx.model, 6, pool);
    await pool.compute(task(0)); // the threads are up
    const big: GradTask = { step: 1, batch: 800, microBatch: 8, mbLo: 0, mbHi: 100, indices: Uint32Array.from({ length: 800 }, (_, i) => i % ctx.data.n) };
    for (let i = 0; i < 3; i++) {
      const step = pool.compute({ ...big, step: 1 + i });
      if (i === 2) void pool.close();
      const settled = await Promise.race([step.then(() => 'resolved', (e: Error) => e.message), new Promise((ok) => setTimeout(() => ok('hung'), 10_000))]);
      if (i < 2) expect(settled).toBe('resolved');
      else expect(settled).toMatch(/^(step 3: the thread pool was closed|thread pool is closed)/);
    }
    await expect(pool.compute(task(9))).rejects.toThrow(/thread pool is closed/);
  });

  test('minShardMs must be a finite number ≥ 0', () => {
    for (const bad of [NaN, -1, Infinity]) {
      expect(() => new PoolEngine({ threads: 2, paramCount: 1, context: { dataset: 'spirals', spec, kernels: 'js' }, minShardMs: bad })).toThrow(/minShardMs must be a finite number ≥ 0/);
    }
  });

  test('a model that does not fit the dataset fails the first step with a message naming it', async () => {
    const wrong: ModelSpec = { ...spec, inputs: 5 };
    const pool = new PoolEngine({ threads: 2, paramCount: 5 * 32 + 32 + 32 * 3 + 3, context: { dataset: 'spirals', spec: wrong, kernels: 'js' } });
    engines.push(pool);
    await expect(pool.compute(task(0))).rejects.toThrow(/^step 0: setting up the calling thread's engine failed: model 5→3 does not fit dataset spirals/);
  });
});

test("threads get tsx's loader unless node runs under it already (a path that merely contains \"tsx\" does not count)", () => {
  expect(underTsx(['--import', 'tsx', '--conditions=@gradmesh/source'])).toBe(true);
  expect(underTsx(['--import=tsx/esm'])).toBe(true);
  expect(underTsx(['--require', '/w/node_modules/.pnpm/tsx@4.23.15/node_modules/tsx/dist/preflight.cjs'])).toBe(true);
  expect(underTsx(['--require', '/w/node_modules/.pnpm/vitest@4.1.12_tsx@4.23.15_/node_modules/vitest/suppress-warnings.cjs', '--conditions', 'node'])).toBe(false);
  expect(underTsx(['--conditions', 'tsx'])).toBe(false);
  expect(underTsx([])).toBe(false);
});
