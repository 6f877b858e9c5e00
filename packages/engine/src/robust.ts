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
