import type { Dataset, Split } from '../dataset.js';
import { streamRng, type Rng } from '../rng.js';
import { DatasetError } from '../errors.js';
import { checkInt, MAX_GENERATED_VALUES } from './check.js';

const TEACHER_STREAM = 1;
const U32_TO_2 = 2 / 4294967296;
const TRAIN_STREAM = 2;
const TEST_STREAM = 3;

/**
 * Random features with labels from a random linear teacher, for benchmarks
 * (`synthetic:784x10:60000` is MNIST-shaped). Features are uniform in
 * [−1, 1) (zero mean, so no class dominates through the teacher's bias);
 * the label is argmax over classes of x·W with W uniform in [−1, 1), so the
 * problem is linearly separable and a softmax regression can reach 100%.
 *
 * `n` training samples and ⌈n/5⌉ test samples (or `nTest`).
 */
export function synthetic(inputs: number, classes: number, n: number, seed = 0, nTest = Math.ceil(n / 5)): Dataset {
  checkInt('synthetic: inputs', inputs, 1, 1e6);
  checkInt('synthetic: classes', classes, 2, 1e5);
  checkInt('synthetic: n', n, 1, 1e9);
  checkInt('synthetic: nTest', nTest, 0, 1e9);
  if ((n + nTest) * Math.max(inputs, classes) > MAX_GENERATED_VALUES) {
    throw new DatasetError(
      'BAD_ARGUMENT',
      `synthetic:${inputs}x${classes}:${n} is too large (${n + nTest} samples × ${inputs} inputs; limit ${MAX_GENERATED_VALUES} values)`,
    );
  }
  const teacherRng = streamRng(seed, TEACHER_STREAM);
  const w = new Float64Array(inputs * classes);
  for (let k = 0; k < w.length; k++) w[k] = 2 * teacherRng.next() - 1;
  return {
    name: `synthetic:${inputs}x${classes}:${n}`,
    inputs,
    outputs: classes,
    task: 'classification',
    classes: Array.from({ length: classes }, (_, j) => String(j)),
    train: draw(n, inputs, classes, w, streamRng(seed, TRAIN_STREAM)),
    test: draw(nTest, inputs, classes, w, streamRng(seed, TEST_STREAM)),
  };
}

function draw(n: number, inputs: number, classes: number, w: Float64Array, rng: Rng): Split {
  const x = new Float32Array(n * inputs);
  const y = new Float32Array(n * classes);
  for (let i = 0; i < n; i++) {
    const row = x.subarray(i * inputs, (i + 1) * inputs);
    // One 32-bit draw per feature (float32 keeps 24 bits of it).
    for (let k = 0; k < inputs; k++) row[k] = rng.nextU32() * U32_TO_2 - 1;
    // The teacher sees the stored float32 features, so labels follow from the data.
    let best = 0;
    let bestLogit = -Infinity;
    for (let c = 0; c < classes; c++) {
      const wc = c * inputs; // w is class-major: each dot product reads memory in order
      let logit = 0;
      for (let k = 0; k < inputs; k++) logit += row[k] * w[wc + k];
      if (logit > bestLogit) {
        bestLogit = logit;
        best = c;
      }
    }
    y[i * classes + best] = 1;
  }
  return { n, x, y };
}
