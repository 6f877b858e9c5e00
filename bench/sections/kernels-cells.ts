/**
 * The cells of the `kernels` section, one per implementation. Every cell
 * trains the same MLP on the same synthetic data with plain SGD, one step per
 * global batch: gather the batch, forward, backward, update.
 */
import { batchIndices } from '@gradmesh/data';
import type { Cell } from '../lib/cell.js';
import { loadKernels, type KernelName } from '../lib/kernel-sets.js';
import { kernelsData as data, kernelsTrainer, LR, SEED } from '../lib/kernels-step.js';
import { paramCountOf, type Arch } from '../lib/models.js';
import { loadTf, type TfBackend, type Tfl } from '../lib/tfjs.js';

/**
 * gradmesh's production step (Trainer + LocalEngine: plan → gather → model →
 * canonical tree → optimizer), with one micro-batch per step unless told
 * otherwise (the CLI's default micro-batch is 32).
 */
export async function gradmesh(args: { arch: Arch; kernels: KernelName; microBatch?: number }): Promise<Cell> {
  const a = args.arch;
  const { kernels, reason } = await loadKernels(args.kernels, paramCountOf(a));
  if (!kernels) throw new Error(reason ?? 'kernels unavailable');
  const trainer = kernelsTrainer(a, kernels, args.microBatch);
  let loss = NaN;
  return {
    info: { kernels: kernels.name, microBatch: args.microBatch ?? a.batch },
    async block(steps) {
      for (let s = 0; s < steps; s++) loss = (await trainer.trainStep()).loss;
      if (!Number.isFinite(loss)) throw new Error(`gradmesh diverged (loss ${loss})`);
      return { extra: { loss } };
    },
  };
}

export function tfModel(tfl: Tfl, a: Pick<Arch, 'inputs' | 'hidden' | 'classes'>) {
  const model = tfl.sequential();
  a.hidden.forEach((units, i) =>
    model.add(tfl.layers.dense({ units, activation: 'relu', ...(i === 0 ? { inputShape: [a.inputs] } : {}) })),
  );
  model.add(tfl.layers.dense({ units: a.classes, activation: 'softmax' }));
  return model;
}

/** TensorFlow.js the way its users train: a layers model, compile, model.fit over the data (shuffled each epoch). */
export async function tfFit(args: { arch: Arch; backend: TfBackend }): Promise<Cell> {
  const { tf, tfl, detail } = await loadTf(args.backend);
  const a = args.arch;
  const ds = data(a);
  const model = tfModel(tfl, a);
  model.compile({ optimizer: tf.train.sgd(LR), loss: 'categoricalCrossentropy' });
  let xs: ReturnType<typeof tf.tensor2d> | null = null;
  let ys: ReturnType<typeof tf.tensor2d> | null = null;
  let rows = 0;
  return {
    info: { backend: detail },
    prepare(steps) {
      // fit() over exactly `steps` batches: the data tiled to steps·batch rows (untimed).
      const need = steps * a.batch;
      if (need === rows) return;
      xs?.dispose();
      ys?.dispose();
      const x = new Float32Array(need * a.inputs);
      const y = new Float32Array(need * a.classes);
      for (let r = 0; r < need; r++) {
        const src = r % ds.train.n;
        x.set(ds.train.x.subarray(src * a.inputs, (src + 1) * a.inputs), r * a.inputs);
        y.set(ds.train.y.subarray(src * a.classes, (src + 1) * a.classes), r * a.classes);
      }
      xs = tf.tensor2d(x, [need, a.inputs]);
      ys = tf.tensor2d(y, [need, a.classes]);
      rows = need;
    },
    async block() {
      const h = await model.fit(xs!, ys!, { batchSize: a.batch, epochs: 1, shuffle: true, verbose: 0, yieldEvery: 'never' });
      const loss = h.history.loss!.at(-1) as number;
      if (!Number.isFinite(loss)) throw new Error(`TensorFlow.js diverged (loss ${loss})`);
      return { extra: { loss, tensors: tf.memory().numTensors } };
    },
  };
}

/**
 * TensorFlow.js's best case: backprop written by hand with tf ops, every
 * transposed operand materialised with tf.transpose (the transposeA/B flags of
 * matMul take a much slower path in XNNPACK), SGD by variable.assign. No
 * gradient with respect to the input is computed (as in every other cell).
 */
export async function tfHand(args: { arch: Arch; backend: TfBackend }): Promise<Cell> {
  const { tf, detail } = await loadTf(args.backend);
  const a = args.arch;
  const ds = data(a);
  const xAll = tf.tensor2d(ds.train.x, [ds.train.n, a.inputs]);
  const yAll = tf.tensor2d(ds.train.y, [ds.train.n, a.classes]);
  const sizes = [a.inputs, ...a.hidden, a.classes];
  const W: Array<ReturnType<typeof tf.variable>> = [];
  const b: Array<ReturnType<typeof tf.variable>> = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    const fanIn = sizes[l]!;
    const fanOut = sizes[l + 1]!;
    W.push(tf.variable(tf.randomNormal([fanIn, fanOut], 0, Math.sqrt(2 / fanIn), 'float32', SEED + l)));
    b.push(tf.variable(tf.zeros([fanOut])));
  }
  const scale = LR / a.batch;
  let step = 0;
  const trainStep = (): number => {
    const { indices } = batchIndices(ds.train.n, a.batch, SEED, step++);
    const lossT = tf.tidy(() => {
      const idx = tf.tensor1d(Int32Array.from(indices), 'int32');
      const x = tf.gather(xAll, idx);
      const y = tf.gather(yAll, idx);
      type T2 = ReturnType<typeof tf.tensor2d>;
      const acts: T2[] = [x as T2];
      let h = x as T2;
      for (let l = 0; l < W.length; l++) {
        const z = tf.add(tf.matMul(h, W[l]! as T2), b[l]!) as T2;
        h = l + 1 < W.length ? tf.relu(z) : z;
        acts.push(h);
      }
      const logits = h;
      const logp = tf.logSoftmax(logits);
      const loss = tf.neg(tf.sum(tf.mul(y, logp)));
      let dz = tf.sub(tf.exp(logp), y) as T2; // d(loss sum)/d logits
      for (let l = W.length - 1; l >= 0; l--) {
        const dW = tf.matMul(tf.transpose(acts[l]!), dz);
        const db = tf.sum(dz, 0);
        if (l > 0) {
          const da = tf.matMul(dz, tf.transpose(W[l]! as T2));
          dz = tf.mul(da, tf.step(acts[l]!)) as T2; // relu'(z) from a = relu(z)
        }
        W[l]!.assign(tf.sub(W[l]!, tf.mul(dW, scale)));
        b[l]!.assign(tf.sub(b[l]!, tf.mul(db, scale)));
      }
      return loss;
    });
    const v = lossT.dataSync()[0]!;
    lossT.dispose();
    return v / a.batch;
  };
  return {
    info: { backend: detail },
    block(steps) {
      let loss = NaN;
      for (let s = 0; s < steps; s++) loss = trainStep();
      if (!Number.isFinite(loss)) throw new Error(`TensorFlow.js (hand-written) diverged (loss ${loss})`);
      return { extra: { loss, tensors: tf.memory().numTensors } };
    },
  };
}
