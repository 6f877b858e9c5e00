import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { fusePlanOps, Model, PLAN_ADD, PLAN_LEAF, PLAN_LEAF_ADD, Rng, separatePlan, type BlockPlan, type ModelSpec } from '@gradmesh/core';
import { randomBatch, randomParams } from './fixtures.js';
import { KERNEL_SETS } from './kernel-sets.js';

// lossAndGradBlocks runs the forward pass and the back-propagated deltas over
// all rows at once and forms only the weight and bias gradients per block.
// Determinism rests on it giving, for every block, exactly the bits of
// lossAndGrad over that block alone — for every kernel set, any block size
// (multiples of the kernels' tile heights or not) and every activation/loss.
const specs: ModelSpec[] = [
  { inputs: 6, layers: [{ units: 9, activation: 'relu' }, { units: 4, activation: 'softmax' }], loss: 'softmax_xent' },
  { inputs: 13, layers: [{ units: 21, activation: 'relu' }, { units: 17, activation: 'relu' }, { units: 3, activation: 'softmax' }], loss: 'softmax_xent' },
  { inputs: 3, layers: [{ units: 5, activation: 'tanh' }, { units: 5, activation: 'sigmoid' }, { units: 2, activation: 'identity' }], loss: 'mse_mean' },
  { inputs: 4, layers: [{ units: 7, activation: 'leaky_relu' }, { units: 1, activation: 'sigmoid' }], loss: 'sigmoid_bce' },
  { inputs: 5, layers: [{ units: 33, activation: 'relu' }, { units: 2, activation: 'softmax' }], loss: 'mse_sum' },
];

const bits = (a: Float32Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');

for (const set of KERNEL_SETS) {
  describe(`${set.name}: lossAndGradBlocks gives each block the bits of lossAndGrad on that block alone`, () => {
    const kernels = set.make();
    for (const spec of specs) {
      test(`${spec.layers.map((l) => l.activation).join('→')} / ${spec.loss}`, () => {
        const model = new Model(spec, kernels);
        fc.assert(
          fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 40 }), (seed, n, block) => {
            const rng = new Rng(seed);
            const params = randomParams(model, rng);
            const { x, y } = randomBatch(model, n, rng);
            // Sparse inputs like MNIST's: the JS kernels skip all-zero columns of a row panel.
            for (let i = 0; i < x.length; i++) if (rng.next() < 0.6) x[i] = 0;
            const count = Math.ceil(n / block);
            // Stale contents must be overwritten, not accumulated into.
            const grads = Array.from({ length: count }, () => new Float32Array(model.paramCount).fill(7));
            const losses = new Float64Array(count).fill(7);
            model.lossAndGradBlocks(params, x, y, n, block, separatePlan(count), grads, losses);
            const one = new Float32Array(model.paramCount);
            for (let j = 0; j < count; j++) {
              const lo = j * block;
              const rows = Math.min(block, n - lo);
              const loss = model.lossAndGrad(params, x.subarray(lo * model.inputs), y.subarray(lo * model.outputs), rows, one);
              expect(bits(grads[j]!)).toBe(bits(one));
              expect(losses[j]).toBe(loss);
            }
          }),
          { numRuns: 40, seed: 7 },
        );
      });
    }
  });
}

/** A random plan: leaves into random slots, random additions, random outputs (as a reduction tree or anything else). */
function randomPlan(blocks: number, rng: Rng): BlockPlan {
  const slots = 1 + rng.below(Math.min(6, blocks + 2));
  const ops: number[] = [];
  const written = new Set<number>();
  for (let j = 0; j < blocks; j++) {
    const s = rng.below(slots);
    ops.push(PLAN_LEAF, j, s);
    written.add(s);
    if (written.size > 1 && rng.next() < 0.7) {
      const w = [...written];
      const a = w[rng.below(w.length)]!;
      const b = w[rng.below(w.length)]!;
      if (a !== b) ops.push(PLAN_ADD, a, b);
    }
  }
  const w = [...written];
  const outs = Array.from({ length: 1 + rng.below(w.length) }, () => w[rng.below(w.length)]!);
  return { ops: Int32Array.from(ops), slots, outSlots: Int32Array.from(outs) };
}

/** The plan run by hand on per-block gradients from lossAndGrad: the definition the model must match. */
function planByHand(plan: BlockPlan, leaves: Float32Array[]): Float32Array[] {
  const slot: Float32Array[] = [];
  for (let i = 0; i < plan.ops.length; i += 3) {
    const [op, a, b] = [plan.ops[i]!, plan.ops[i + 1]!, plan.ops[i + 2]!];
    if (op === PLAN_LEAF) slot[b] = leaves[a]!.slice();
    else {
      const src = slot[b]!.slice();
      for (let t = 0; t < src.length; t++) slot[a]![t] += src[t]!;
    }
  }
  return [...plan.outSlots].map((s) => slot[s]!.slice());
}

for (const set of KERNEL_SETS) {
  describe(`${set.name}: lossAndGradBlocks runs a plan with the bits of the plan run by hand`, () => {
    const kernels = set.make();
    for (const spec of [specs[1]!, specs[2]!]) {
      test(`${spec.layers.map((l) => l.activation).join('→')} / ${spec.loss}`, () => {
        const model = new Model(spec, kernels);
        fc.assert(
          fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 90 }), fc.integer({ min: 1, max: 24 }), (seed, n, block) => {
            const rng = new Rng(seed);
            const params = randomParams(model, rng);
            const { x, y } = randomBatch(model, n, rng);
            const count = Math.ceil(n / block);
            const plan = randomPlan(count, rng);
            const outs = Array.from(plan.outSlots, () => new Float32Array(model.paramCount).fill(3));
            model.lossAndGradBlocks(params, x, y, n, block, plan, outs, new Float64Array(count));
            const leaves = Array.from({ length: count }, (_, j) => {
              const g = new Float32Array(model.paramCount);
              const lo = j * block;
              model.lossAndGrad(params, x.subarray(lo * model.inputs), y.subarray(lo * model.outputs), Math.min(block, n - lo), g);
              return g;
            });
            const want = planByHand(plan, leaves);
            outs.forEach((g, i) => expect(bits(g)).toBe(bits(want[i]!)));
          }),
          { numRuns: 40, seed: 9 },
        );
      });
    }
  });
}

describe('lossAndGradBlocks input checks', () => {
  const model = new Model(specs[0]!);
  const params = new Float32Array(model.paramCount);
  const x = new Float32Array(10 * 6);
  const y = new Float32Array(10 * 4);
  test('bad plans, block sizes, buffers and loss arrays are errors', () => {
    const g = (k: number) => Array.from({ length: k }, () => new Float32Array(model.paramCount));
    const run = (block: number, plan: BlockPlan, outs: Float32Array[], losses = new Float64Array(10)) => () => model.lossAndGradBlocks(params, x, y, 10, block, plan, outs, losses);
    expect(run(4, separatePlan(4), g(4))).toThrow(/block 3 is outside/);
    expect(run(4, separatePlan(3), g(2))).toThrow(/3 outputs/);
    expect(run(0, separatePlan(3), g(3))).toThrow(/block size/);
    expect(run(5, separatePlan(2), [new Float32Array(3), ...g(1)])).toThrow(/outs\[0\]/);
    expect(run(4, separatePlan(3), g(3), new Float64Array(2))).toThrow(/need 3 losses/);
    expect(run(10, { ops: Int32Array.of(PLAN_ADD, 0, 0), slots: 1, outSlots: Int32Array.of(0) }, g(1))).toThrow(/before both are written/);
    expect(run(10, { ops: Int32Array.of(PLAN_LEAF, 0, 0, PLAN_ADD, 0, 0), slots: 1, outSlots: Int32Array.of(0) }, g(1))).toThrow(/to itself/);
    expect(run(10, { ops: Int32Array.of(PLAN_LEAF, 0, 5), slots: 2, outSlots: Int32Array.of(0) }, g(1))).toThrow(/slot 5/);
    expect(run(10, { ops: Int32Array.of(9, 0, 0), slots: 1, outSlots: Int32Array.of(0) }, g(1))).toThrow(/unknown plan op/);
  });
});

describe('fusePlanOps', () => {
  const plan = (ops: number[], outSlots: number[], slots = 4): BlockPlan => ({ ops: Int32Array.from(ops), slots, outSlots: Int32Array.from(outSlots) });
  test('fuses a leaf into the addition that consumes it, only when the leaf is never read again', () => {
    // ((b0 + b1) + (b2 + b3)): leaves 1 and 3 fuse; leaf 2 does not (slot 1 is read by the last add).
    const tree = plan([PLAN_LEAF, 0, 0, PLAN_LEAF, 1, 1, PLAN_ADD, 0, 1, PLAN_LEAF, 2, 1, PLAN_LEAF, 3, 2, PLAN_ADD, 1, 2, PLAN_ADD, 0, 1], [0]);
    expect([...fusePlanOps(tree)]).toEqual([PLAN_LEAF, 0, 0, PLAN_LEAF_ADD, 1, 0, PLAN_LEAF, 2, 1, PLAN_LEAF_ADD, 3, 1, PLAN_ADD, 0, 1]);
    // The leaf's slot is an output, or read later: no fusion.
    expect([...fusePlanOps(plan([PLAN_LEAF, 0, 0, PLAN_LEAF, 1, 1, PLAN_ADD, 0, 1], [0, 1]))]).toEqual([PLAN_LEAF, 0, 0, PLAN_LEAF, 1, 1, PLAN_ADD, 0, 1]);
    const readLater = [PLAN_LEAF, 0, 0, PLAN_LEAF, 1, 1, PLAN_ADD, 0, 1, PLAN_LEAF, 2, 2, PLAN_ADD, 2, 1];
    expect([...fusePlanOps(plan(readLater, [0, 2]))]).toEqual(readLater);
  });
});
