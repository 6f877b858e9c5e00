/**
 * Robust aggregation for runs with untrusted workers. Each vector is one
 * task's mean gradient; the result is their coordinate-wise median or trimmed
 * mean. Unlike the canonical-tree sum this depends on how the batch was
 * partitioned (a median of shard means is not a function of the samples
 * alone), so it trades gradmesh's bit-identity guarantee for resistance to a
 * minority of workers sending arbitrary gradients.
 */
export type Aggregate = 'mean' | 'median' | 'trimmed-mean';

export const AGGREGATES: readonly Aggregate[] = ['mean', 'median', 'trimmed-mean'];

export function robustAggregate(vectors: Float32Array[], kind: 'median' | 'trimmed-mean', trim = 0.25, out?: Float32Array): Float32Array {
  const k = vectors.length;
  if (k === 0) throw new RangeError('no gradients to aggregate');
  const n = vectors[0]!.length;
  for (const v of vectors) if (v.length !== n) throw new RangeError('gradients differ in length');
  const res = out ?? new Float32Array(n);
  const col = new Float64Array(k);
  // With trim t, drop ⌊t·k⌋ values from each end (at least one when k ≥ 3, so one outlier is always cut).
  let cut = Math.floor(trim * k);
  if (kind === 'trimmed-mean' && cut === 0 && k >= 3) cut = 1;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) col[j] = vectors[j]![i]!;
    col.sort();
    if (kind === 'median') {
      res[i] = k % 2 === 1 ? col[k >> 1]! : (col[(k >> 1) - 1]! + col[k >> 1]!) / 2;
    } else {
      let s = 0;
      for (let j = cut; j < k - cut; j++) s += col[j]!;
      res[i] = s / (k - 2 * cut);
    }
  }
  return res;
}

/**
 * Outlier-filtered mean: each vote is one task's mean gradient over n samples.
 * The centre is the votes' coordinate-wise median (or trimmed mean); votes
 * farther than `factor` × the median distance from it are dropped (at most
 * half of them), and the rest are averaged weighted by samples. With no
 * outlier nothing is dropped and this is the plain mean of the batch, so
 * honest runs lose nothing; a worker sending ×−1000 is far from any centre
 * and is dropped. Needs at least three votes to tell an outlier apart.
 * Returns the mean gradient and how many votes were kept.
 */
export function filteredMean(
  votes: Array<{ v: Float32Array; n: number }>,
  center: 'median' | 'trimmed-mean',
  trim = 0.25,
  factor = 3,
): { mean: Float32Array; kept: number; keptIndices: number[] } {
  const k = votes.length;
  if (k === 0) throw new RangeError('no gradients to aggregate');
  let keep = votes.map((_, i) => i);
  if (k >= 3) {
    const c = robustAggregate(votes.map((x) => x.v), center, trim);
    const d = votes.map(({ v }) => {
      let s = 0;
      for (let i = 0; i < v.length; i++) {
        const e = v[i]! - c[i]!;
        s += e * e;
      }
      return Math.sqrt(s);
    });
    const sorted = [...d].sort((a, b) => a - b);
    const typical = sorted[(k - 1) >> 1]!;
    const limit = factor * typical + 1e-30;
    keep = keep.filter((i) => d[i]! <= limit);
    if (keep.length < Math.ceil(k / 2)) keep = d.map((x, i) => [x, i] as const).sort((a, b) => a[0] - b[0]).slice(0, Math.ceil(k / 2)).map(([, i]) => i);
  }
  const n = votes[0]!.v.length;
  const mean = new Float32Array(n);
  let total = 0;
  for (const i of keep) total += votes[i]!.n;
  const acc = new Float64Array(n);
  for (const i of keep) {
    const { v, n: w } = votes[i]!;
    for (let j = 0; j < n; j++) acc[j] += v[j]! * w;
  }
  for (let j = 0; j < n; j++) mean[j] = acc[j]! / total;
  return { mean, kept: keep.length, keptIndices: keep };
}
