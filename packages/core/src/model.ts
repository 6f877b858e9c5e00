/**
 * A dense feed-forward network over one flat parameter buffer.
 *
 * Forward and backward run over the whole batch in matrix form, every matrix
 * product through the injected Kernels:
 *   forward   Z_l = A_{l−1}·W_l + b_l,  A_l = act(Z_l)          (NN)
 *   backward  dW_l = A_{l−1}ᵀ·dZ_l,  db_l = Σ_rows dZ_l          (TN)
 *             dA_{l−1} = dZ_l·W_lᵀ,  dZ_{l−1} = act'(dA_{l−1})  (NT)
 * Results are SUMS over the batch (never means), so shard gradients add up to
 * the batch gradient: ∇R_B = Σ_j ∇R_{B_j}.
 *
 * Workspaces (one activation buffer per layer, two ping-pong delta buffers)
 * come from kernels.alloc and are reused; they grow when n grows, so the
 * steady state allocates nothing.
 *
 * relu layers run their element-wise passes — relu, and relu' fused with the
 * bias gradient's column sums — through the kernels' optional methods when
 * the kernel set has them (the JS loops otherwise; the same bits either way):
 * in V8 those loops cost ~2 ns per element, as much as the gemms of the
 * benchmark models.
 */
import { ACTIVATION_OPS, type ActivationOps } from './activations.js';
import { initParams } from './init.js';
import * as elementwise from './kernels/elementwise.js';
import { jsKernels } from './kernels/js.js';
import type { Kernels } from './kernels/types.js';
import { checkPlan, gemmTnBlocksReference, PLAN_LEAF, type BlockPlan } from './kernels/blocks.js';
import { paramLayout, type LayerLayout } from './layout.js';
import { LOSS_OPS, type LossOp } from './losses.js';
import type { Rng } from './rng.js';
import { DEFAULT_LEAKY_SLOPE, isFusedLoss, validateSpec, type ModelSpec } from './spec.js';

export interface Evaluation {
  /** Loss summed over the samples. */
  lossSum: number;
  /** Samples classified right (argmax for several outputs, 0.5 threshold for one sigmoid output, else 0). */
  correct: number;
}

/** Rows evaluate/predict push through at once: bounds workspace memory for big test sets. */
const EVAL_CHUNK = 512;

export class Model {
  readonly spec: ModelSpec;
  readonly kernels: Kernels;
  readonly inputs: number;
  readonly outputs: number;
  readonly paramCount: number;
  readonly layers: readonly LayerLayout[];

  private readonly ops: readonly ActivationOps[];
  /** Layers whose activation is relu: their element-wise passes may run in the kernels. */
  private readonly relu: readonly boolean[];
  private readonly lossOp: LossOp;
  private readonly fused: boolean;
  private readonly slope: number;
  private readonly maxWidth: number;
  private capacity = 0;
  private acts: Float32Array[] = [];
  private deltaA: Float32Array = new Float32Array(0);
  private deltaB: Float32Array = new Float32Array(0);
  private readonly colSum: Float64Array;
  private readonly maxLayerSize: number;
  // lossAndGradBlocks' scratch: block row bounds, per-block and per-slot bias gradients, slot buffers.
  private bounds = new Int32Array(0);
  private blockBias = new Float32Array(0);
  private slotBias = new Float32Array(0);
  private readonly slots: Float32Array[] = [];
  // W/b views per parameter or gradient buffer: callers reuse buffers, so the
  // views are made once per buffer rather than once per call.
  private readonly views = new WeakMap<Float32Array, Float32Array[]>();

  constructor(spec: ModelSpec, kernels: Kernels = jsKernels) {
    validateSpec(spec);
    this.spec = spec;
    this.kernels = kernels;
    const layout = paramLayout(spec);
    this.layers = layout.layers;
    this.paramCount = layout.paramCount;
    this.inputs = spec.inputs;
    this.outputs = spec.layers[spec.layers.length - 1].units;
    this.ops = spec.layers.map((l) => ACTIVATION_OPS[l.activation]);
    this.relu = spec.layers.map((l) => l.activation === 'relu');
    this.lossOp = LOSS_OPS[spec.loss];
    this.fused = isFusedLoss(spec.loss);
    this.slope = spec.leakySlope ?? DEFAULT_LEAKY_SLOPE;
    this.maxWidth = Math.max(...spec.layers.map((l) => l.units));
    this.colSum = new Float64Array(this.maxWidth);
    this.maxLayerSize = Math.max(...this.layers.map((l) => l.fanIn * l.fanOut));
  }

  /** Fills params with Xavier/He normals (per spec.init or the activation's default), biases 0. */
  initParams(params: Float32Array, rng: Rng): void {
    initParams(this.spec, { layers: this.layers, paramCount: this.paramCount }, params, rng);
  }

  /**
   * Loss SUM over the n samples; OVERWRITES grad with the gradient SUM.
   * x is n×inputs and y n×outputs, row-major (longer buffers are fine: only
   * the first n rows are read).
   */
  lossAndGrad(params: Float32Array, x: Float32Array, y: Float32Array, n: number, grad: Float32Array): number {
    this.check(params, x, y, n);
    if (grad.length !== this.paramCount) {
      throw new RangeError(`grad has ${grad.length} entries, the model has ${this.paramCount} parameters`);
    }
    this.ensureCapacity(n);
    const out = this.forward(params, x, n, !this.fused);
    const last = this.layers.length - 1;
    let d = this.deltaA;
    const loss = this.lossOp(out, y, n, this.outputs, d);
    const pv = this.viewsOf(params);
    const gv = this.viewsOf(grad);
    const k = this.kernels;
    // The fused losses hand back dR/dZ already; the others dR/dA.
    if (this.fused) this.storeColSums(d, n, this.outputs, gv[2 * last + 1]);
    else this.backwardAndSum(last, out, d, n, this.outputs, gv[2 * last + 1]);
    for (let l = last; l >= 0; l--) {
      const { fanIn, fanOut } = this.layers[l];
      const input = l === 0 ? x : this.acts[l - 1];
      k.gemm(true, false, fanIn, fanOut, n, input, d, gv[2 * l], false);
      if (l > 0) {
        const prev = d === this.deltaA ? this.deltaB : this.deltaA;
        k.gemm(false, true, n, fanIn, fanOut, d, pv[2 * l], prev, false);
        this.backwardAndSum(l - 1, this.acts[l - 1], prev, n, fanIn, gv[2 * l - 1]);
        d = prev;
      }
    }
    return loss;
  }

  /**
   * Loss and gradient sums of consecutive blocks of `block` rows (the last
   * may be shorter), combined by `plan` (kernels/blocks.ts): block j is rows
   * [j·block, min((j+1)·block, n)); its gradient is exactly what lossAndGrad
   * would give for those rows alone; outs[i] is OVERWRITTEN with the plan's
   * output i. losses[j] ← block j's loss sum (the caller combines losses).
   * With separatePlan(count), outs[j] is block j's gradient.
   *
   * Why it is not a loop over lossAndGrad: the forward pass and the
   * back-propagated deltas (X·W and dZ·Wᵀ) are row-wise — every kernel set
   * computes C(i, j) from row i of op(A) and column j of op(B) in a fixed
   * order, whatever m — so they run over all n rows at once, one matrix
   * product per layer with the weights packed once. Only the weight and bias
   * gradients, which sum over rows, are formed per block, and those go
   * through the plan layer by layer — fused into one kernel call per layer
   * when the kernel set has gemmTnBlocks. This is what makes small fixed
   * micro-batches (deterministic training) cost little more than one pass.
   */
  lossAndGradBlocks(params: Float32Array, x: Float32Array, y: Float32Array, n: number, block: number, plan: BlockPlan, outs: Float32Array[], losses: Float64Array): void {
    this.check(params, x, y, n);
    if (!(Number.isInteger(block) && block >= 1)) throw new RangeError(`block size must be a positive integer, got ${block}`);
    const count = Math.ceil(n / block);
    if (losses.length < count) throw new RangeError(`${n} rows in blocks of ${block} need ${count} losses, got ${losses.length}`);
    checkPlan(plan, count);
    if (outs.length !== plan.outSlots.length) throw new RangeError(`the plan has ${plan.outSlots.length} outputs, got ${outs.length} buffers`);
    outs.forEach((g, i) => {
      if (g.length !== this.paramCount) throw new RangeError(`outs[${i}] has ${g.length} entries, the model has ${this.paramCount} parameters`);
    });
    this.ensureCapacity(n);
    if (this.bounds.length < count + 1) this.bounds = new Int32Array(count + 1);
    const bounds = this.bounds.subarray(0, count + 1);
    for (let j = 0; j <= count; j++) bounds[j] = Math.min(j * block, n);
    if (this.blockBias.length < count * this.maxWidth) this.blockBias = new Float32Array(count * this.maxWidth);
    if (this.slotBias.length < plan.slots * this.maxWidth) this.slotBias = new Float32Array(plan.slots * this.maxWidth);

    const o = this.outputs;
    const out = this.forward(params, x, n, !this.fused);
    const last = this.layers.length - 1;
    const pv = this.viewsOf(params);
    const ovs = outs.map((g) => this.viewsOf(g));
    const rows = (j: number): number => bounds[j + 1] - bounds[j];
    const slice = (buf: Float32Array, j: number, cols: number): Float32Array => buf.subarray(bounds[j] * cols, bounds[j + 1] * cols);
    const bias = (j: number, cols: number): Float32Array => this.blockBias.subarray(j * cols, (j + 1) * cols);
    const k = this.kernels;
    let d = this.deltaA;
    for (let j = 0; j < count; j++) {
      const dj = slice(d, j, o);
      losses[j] = this.lossOp(slice(out, j, o), slice(y, j, o), rows(j), o, dj);
      if (this.fused) this.storeColSums(dj, rows(j), o, bias(j, o));
      else this.backwardAndSum(last, slice(out, j, o), dj, rows(j), o, bias(j, o));
    }
    for (let l = last; l >= 0; l--) {
      const { fanIn, fanOut } = this.layers[l];
      const input = l === 0 ? x : this.acts[l - 1];
      this.runBiasPlan(plan, fanOut, ovs.map((v) => v[2 * l + 1]));
      const wOuts = ovs.map((v) => v[2 * l]);
      if (k.gemmTnBlocks !== undefined) k.gemmTnBlocks(fanIn, fanOut, input, d, bounds, plan, wOuts);
      else gemmTnBlocksReference(k, fanIn, fanOut, input, d, bounds, plan, wOuts, (s) => this.slotScratch(s));
      if (l > 0) {
        const prev = d === this.deltaA ? this.deltaB : this.deltaA;
        k.gemm(false, true, n, fanIn, fanOut, d, pv[2 * l], prev, false);
        for (let j = 0; j < count; j++) {
          this.backwardAndSum(l - 1, slice(this.acts[l - 1], j, fanIn), slice(prev, j, fanIn), rows(j), fanIn, bias(j, fanIn));
        }
        d = prev;
      }
    }
  }

  /** The plan over the blocks' bias gradients (blockBias, cols wide): small, so in JS (Float32Array stores round once, like every add). */
  private runBiasPlan(plan: BlockPlan, cols: number, outs: Float32Array[]): void {
    const { ops } = plan;
    const sb = this.slotBias;
    for (let i = 0; i < ops.length; i += 3) {
      if (ops[i] === PLAN_LEAF) sb.set(this.blockBias.subarray(ops[i + 1] * cols, (ops[i + 1] + 1) * cols), ops[i + 2] * cols);
      else {
        const a = ops[i + 1] * cols;
        const b = ops[i + 2] * cols;
        for (let t = 0; t < cols; t++) sb[a + t] += sb[b + t];
      }
    }
    plan.outSlots.forEach((s, i) => outs[i].set(sb.subarray(s * cols, (s + 1) * cols)));
  }

  /** Slot buffers for gemmTnBlocksReference, in the kernels' memory, sized for the widest layer. */
  private slotScratch(slot: number): Float32Array {
    while (this.slots.length <= slot) this.slots.push(this.kernels.alloc(this.maxLayerSize));
    return this.slots[slot];
  }

  /** Post-activation outputs, n×outputs (a new array). */
  predict(params: Float32Array, x: Float32Array, n: number): Float32Array {
    this.check(params, x, null, n);
    const result = new Float32Array(n * this.outputs);
    for (let s = 0; s < n; s += EVAL_CHUNK) {
      const m = Math.min(EVAL_CHUNK, n - s);
      this.ensureCapacity(m);
      const out = this.forward(params, x.subarray(s * this.inputs), m, true);
      result.set(out.subarray(0, m * this.outputs), s * this.outputs);
    }
    return result;
  }

  /** Loss sum and correct count over n samples (no gradient). */
  evaluate(params: Float32Array, x: Float32Array, y: Float32Array, n: number): Evaluation {
    this.check(params, x, y, n);
    const o = this.outputs;
    const last = this.spec.layers[this.spec.layers.length - 1].activation;
    let lossSum = 0;
    let correct = 0;
    for (let s = 0; s < n; s += EVAL_CHUNK) {
      const m = Math.min(EVAL_CHUNK, n - s);
      this.ensureCapacity(m);
      const ys = y.subarray(s * o);
      const out = this.forward(params, x.subarray(s * this.inputs), m, !this.fused);
      lossSum += this.lossOp(out, ys, m, o, this.deltaA);
      if (this.fused) this.ops[this.layers.length - 1].forward(out, m, o, this.slope);
      if (o > 1) {
        for (let r = 0; r < m; r++) if (argmax(out, r * o, o) === argmax(ys, r * o, o)) correct++;
      } else if (last === 'sigmoid') {
        for (let r = 0; r < m; r++) if (out[r] >= 0.5 === ys[r] >= 0.5) correct++;
      }
    }
    return { lossSum, correct };
  }

  /** Runs the layers over n rows; returns the last layer's buffer (Z, or A if applyLast). */
  private forward(params: Float32Array, x: Float32Array, n: number, applyLast: boolean): Float32Array {
    const pv = this.viewsOf(params);
    const last = this.layers.length - 1;
    let input = x;
    for (let l = 0; l <= last; l++) {
      const { fanIn, fanOut } = this.layers[l];
      const z = this.acts[l];
      // b is the gemm's start value, not an add after it: with the JS kernels
      // b + Σ is then rounded to float32 once, not twice (adding b afterwards
      // made the gradient check's worst error 6× larger), and the broadcast
      // is a memcpy (~0.2 ns/element here), not a JS loop.
      broadcastRows(z, pv[2 * l + 1], n, fanOut);
      this.kernels.gemm(false, false, n, fanOut, fanIn, input, pv[2 * l], z, true);
      if (l < last || applyLast) {
        if (!this.relu[l]) this.ops[l].forward(z, n, fanOut, this.slope);
        else if (this.kernels.relu !== undefined) this.kernels.relu(n * fanOut, z);
        else elementwise.relu(n * fanOut, z);
      }
      input = z;
    }
    return input;
  }

  /** d ← act_l'(d), and out ← Σ_rows d (layer l's bias gradient): one pass for relu. */
  private backwardAndSum(l: number, a: Float32Array, d: Float32Array, n: number, cols: number, out: Float32Array): void {
    const k = this.kernels;
    if (!this.relu[l]) {
      this.ops[l].backward(a, d, n, cols, this.slope);
      this.storeColSums(d, n, cols, out);
    } else if (k.reluBackwardColSums !== undefined) k.reluBackwardColSums(n, cols, a, d, out);
    else elementwise.reluBackwardColSums(n, cols, a, d, out, this.colSum);
  }

  /** out[j] = Σ_r d[r][j], summed in row order in double. */
  private storeColSums(d: Float32Array, n: number, cols: number, out: Float32Array): void {
    const acc = this.colSum;
    acc.fill(0, 0, cols);
    for (let r = 0, o = 0; r < n; r++, o += cols) {
      for (let j = 0; j < cols; j++) acc[j] += d[o + j];
    }
    for (let j = 0; j < cols; j++) out[j] = acc[j];
  }

  private ensureCapacity(n: number): void {
    if (n <= this.capacity) return;
    // Grow geometrically: a kernel set may never free (WASM's bump allocator),
    // so slowly rising batch sizes must not allocate on every call.
    const cap = this.capacity === 0 ? n : Math.max(n, 2 * this.capacity);
    const k = this.kernels;
    this.acts = this.layers.map((l) => k.alloc(cap * l.fanOut));
    this.deltaA = k.alloc(cap * this.maxWidth);
    this.deltaB = k.alloc(cap * this.maxWidth);
    this.capacity = cap;
  }

  private viewsOf(buf: Float32Array): Float32Array[] {
    let v = this.views.get(buf);
    if (v === undefined) {
      v = [];
      for (const l of this.layers) {
        v.push(buf.subarray(l.wOffset, l.bOffset), buf.subarray(l.bOffset, l.bOffset + l.fanOut));
      }
      this.views.set(buf, v);
    }
    return v;
  }

  private check(params: Float32Array, x: Float32Array, y: Float32Array | null, n: number): void {
    if (!(Number.isInteger(n) && n >= 0)) throw new RangeError(`sample count must be a non-negative integer, got ${n}`);
    if (params.length !== this.paramCount) {
      throw new RangeError(`params has ${params.length} entries, the model has ${this.paramCount} parameters`);
    }
    if (x.length < n * this.inputs) throw new RangeError(`x has ${x.length} values, ${n} samples need ${n * this.inputs}`);
    if (y !== null && y.length < n * this.outputs) {
      throw new RangeError(`y has ${y.length} values, ${n} samples need ${n * this.outputs}`);
    }
  }
}

/** Every row of z (rows×cols) ← b: one copy, then doubling block copies (memcpy, not a JS loop). */
function broadcastRows(z: Float32Array, b: Float32Array, rows: number, cols: number): void {
  if (rows === 0) return;
  z.set(b);
  const len = rows * cols;
  for (let done = cols; done < len; done *= 2) z.copyWithin(done, 0, Math.min(done, len - done));
}

/** First index of the largest value in v[o … o+len). */
function argmax(v: Float32Array, o: number, len: number): number {
  let best = 0;
  for (let j = 1; j < len; j++) if (v[o + j] > v[o + best]) best = j;
  return best;
}

export function createModel(spec: ModelSpec, kernels?: Kernels): Model {
  return new Model(spec, kernels);
}
