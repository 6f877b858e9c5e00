/**
 * Global-batch arithmetic shared by the coordinator (which picks batches and
 * cuts them into shards) and tests. Pure functions of their arguments, so
 * every process that computes them agrees.
 *
 * Partial batches: an epoch of n samples with batch size B has ⌈n/B⌉ steps;
 * the last step of an epoch holds the n mod B leftover samples (when B does
 * not divide n). Every sample is used exactly once per epoch, and a dataset
 * smaller than one batch (xor: 4 points) still trains. Whoever averages a
 * step's gradient must divide by `indices.length`, not by B.
 */
import { DatasetError } from './errors.js';
import { permutation, streamRng } from './rng.js';

const EPOCH_STREAM = 0x45504f43; // "EPOC"

function checkCount(what: string, value: number, min: number): void {
  if (!(Number.isSafeInteger(value) && value >= min)) {
    throw new DatasetError('BAD_ARGUMENT', `${what} must be an integer >= ${min}, got ${value}`);
  }
}

/**
 * The sample order of epoch `epoch`: a permutation of 0..n-1 that depends only
 * on (n, seed, epoch). Epochs of one seed are independent shuffles.
 */
export function epochPermutation(n: number, seed: number, epoch: number): Uint32Array {
  checkCount('epochPermutation: n', n, 0);
  checkCount('epochPermutation: epoch', epoch, 0);
  if (n > 0xffffffff) throw new DatasetError('BAD_ARGUMENT', `epochPermutation: n must be < 2^32, got ${n}`);
  return permutation(n, streamRng(seed, EPOCH_STREAM, epoch));
}

/** ⌈n/batch⌉: the last step of an epoch may be partial (see top of file). */
export function stepsPerEpoch(n: number, batch: number): number {
  checkCount('stepsPerEpoch: n', n, 1);
  checkCount('stepsPerEpoch: batch', batch, 1);
  return Math.ceil(n / batch);
}

export interface BatchAt {
  epoch: number;
  /** Step within the epoch: 0 .. stepsPerEpoch-1. */
  stepInEpoch: number;
  /** Sample indices of this global batch (length `batch`, less for an epoch's last step). */
  indices: Uint32Array;
}

// The coordinator asks for consecutive steps of one epoch: keep that epoch's
// permutation instead of rebuilding an O(n) shuffle every step.
let cached: { n: number; seed: number; epoch: number; perm: Uint32Array } | undefined;

/**
 * The global batch of global step `step` (0-based, counting across epochs):
 * epoch = ⌊step / stepsPerEpoch⌋, and the batch is the slice
 * [k·batch, min(n, (k+1)·batch)) of that epoch's permutation, k = step mod stepsPerEpoch.
 */
export function batchIndices(n: number, batch: number, seed: number, step: number): BatchAt {
  const steps = stepsPerEpoch(n, batch);
  checkCount('batchIndices: step', step, 0);
  const epoch = Math.floor(step / steps);
  const stepInEpoch = step - epoch * steps;
  if (!cached || cached.n !== n || cached.seed !== seed || cached.epoch !== epoch) {
    cached = { n, seed, epoch, perm: epochPermutation(n, seed, epoch) };
  }
  const start = stepInEpoch * batch;
  return { epoch, stepInEpoch, indices: cached.perm.slice(start, Math.min(n, start + batch)) };
}

export interface Shard {
  /** Offset of the shard's first sample within the batch. */
  start: number;
  count: number;
}

function checkWeights(fn: string, weights: readonly number[]): number {
  if (weights.length === 0) throw new DatasetError('BAD_ARGUMENT', `${fn}: weights must not be empty`);
  let total = 0;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i];
    if (!(Number.isFinite(w) && w >= 0)) {
      throw new DatasetError('BAD_ARGUMENT', `${fn}: weights[${i}] must be a finite number >= 0, got ${w}`);
    }
    total += w;
  }
  if (!(total > 0) || !Number.isFinite(total)) {
    throw new DatasetError('BAD_ARGUMENT', `${fn}: weights must have a positive finite sum, got ${total}`);
  }
  return total;
}

/**
 * Cut a batch of `count` samples into contiguous shards, one per weight
 * (a worker's measured samples/s), with sizes proportional to the weights.
 *
 * Each cut is the ideal cumulative position count·(w₀+…+wᵢ)/Σw rounded to the
 * nearest allowed point, so each shard is within one sample of its ideal share
 * (its size is the floor or ceiling of it), shares sum to exactly `count`, a
 * zero weight gets an empty shard, and a small change in speeds moves the
 * cuts only a little.
 */
export function splitShards(count: number, weights: readonly number[]): Shard[] {
  return cut('splitShards', count, 1, weights);
}

/**
 * Like splitShards, but cuts only at multiples of `unit` (micro-batch
 * boundaries within the batch), plus the end of the batch: the last
 * micro-batch is shorter when unit does not divide count. Each shard is
 * within one unit of its ideal share.
 */
export function splitShardsAligned(count: number, unit: number, weights: readonly number[]): Shard[] {
  return cut('splitShardsAligned', count, unit, weights);
}

function cut(fn: string, count: number, unit: number, weights: readonly number[]): Shard[] {
  checkCount(`${fn}: count`, count, 0);
  checkCount(`${fn}: unit`, unit, 1);
  const total = checkWeights(fn, weights);
  // Allowed cut points: 0, unit, 2·unit, …, and count. A cut moves at most
  // unit/2 from its ideal place, so a shard deviates by less than one unit.
  const snap = (ideal: number): number => {
    if (ideal >= count) return count;
    const lo = Math.floor(ideal / unit) * unit;
    const hi = Math.min(lo + unit, count);
    return ideal - lo < hi - ideal ? lo : hi;
  };
  const shards: Shard[] = [];
  let prefix = 0;
  let start = 0;
  for (let i = 0; i < weights.length; i++) {
    prefix += weights[i];
    // The last cut is exactly count, whatever rounding did to the prefix sums.
    const end = i === weights.length - 1 ? count : Math.max(start, snap((count * prefix) / total));
    shards.push({ start, count: end - start });
    start = end;
  }
  return shards;
}

/**
 * Contiguous shards of `count` micro-batches sized by weight, where workers
 * with floor 1 get at least one micro-batch if there are enough to go round.
 */
export function splitWithFloor(count: number, weights: readonly number[], floor: readonly number[]): Shard[] {
  const base = splitShards(count, weights);
  const need = floor.reduce((s, f, i) => s + (f && base[i]!.count === 0 ? 1 : 0), 0);
  if (need === 0 || count < weights.length) return base;
  const sizes = base.map((b, i) => Math.max(b.count, floor[i] ? 1 : 0));
  // Take the extra micro-batches from the largest shards.
  let excess = sizes.reduce((a, b) => a + b, 0) - count;
  while (excess > 0) {
    let big = 0;
    for (let i = 1; i < sizes.length; i++) if (sizes[i]! > sizes[big]!) big = i;
    sizes[big]!--;
    excess--;
  }
  let start = 0;
  return sizes.map((c) => {
    const sh = { start, count: c };
    start += c;
    return sh;
  });
}

/**
 * Shards by speed — or equal shards, unless by the measured speeds they would
 * make the step more than EVEN_SLACK slower. Near-equal workers (or threads)
 * then keep equal shards: a split by speed that saves a few percent of
 * compute on paper (8 micro-batches at speeds 1.3 : 1 → 5 : 3) cuts the
 * canonical tree unevenly, so each shard yields two gradient nodes instead
 * of one — twice the bytes to send or merge — and flips back and forth with
 * the speed estimates' noise.
 */
export function evenUnlessSlower(count: number, speeds: readonly number[], floor: readonly number[]): Shard[] {
  const bySpeed = splitWithFloor(count, speeds, floor);
  const even = splitWithFloor(count, speeds.map(() => 1), floor);
  const time = (sh: Array<{ count: number }>): number => Math.max(...sh.map((x, i) => (x.count === 0 ? 0 : x.count / Math.max(speeds[i]!, 1e-9))));
  return time(even) <= (1 + EVEN_SLACK) * time(bySpeed) ? even : bySpeed;
}

/** How much slower (by measured speeds) equal shards may be and still be chosen. */
export const EVEN_SLACK = 0.15;

/** The median of a few measurements (the mean of the middle two for an even count): what a share is based on. */
export function medianOf(xs: readonly number[]): number {
  if (xs.length === 0) throw new DatasetError('BAD_ARGUMENT', 'medianOf: no values');
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}
