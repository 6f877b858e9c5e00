/** Median of the values (mean of the middle two for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** (max − min) / median: how far apart the runs were, to judge noise on a shared machine. */
export function spread(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x));
  if (v.length < 2) return 0;
  return (Math.max(...v) - Math.min(...v)) / median(v);
}

/** Least-squares line y = a + b·x. */
export function linearFit(xs: readonly number[], ys: readonly number[]): { a: number; b: number; r2: number } {
  const n = xs.length;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
    syy += (ys[i]! - my) ** 2;
  }
  const b = sxx === 0 ? 0 : sxy / sxx;
  return { a: my - b * mx, b, r2: syy === 0 ? 1 : (sxy * sxy) / (sxx * syy) };
}

/** Times fn over `runs` blocks of `reps` calls after one warm-up block; per-call ms of each block. */
export function timeBlocks(fn: () => void, reps: number, runs: number): number[] {
  for (let i = 0; i < reps; i++) fn();
  const out: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) fn();
    out.push((performance.now() - t0) / reps);
  }
  return out;
}

/** As timeBlocks, for async functions. */
export async function timeBlocksAsync(fn: () => Promise<unknown>, reps: number, runs: number): Promise<number[]> {
  for (let i = 0; i < reps; i++) await fn();
  const out: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) await fn();
    out.push((performance.now() - t0) / reps);
  }
  return out;
}

/** Calls per block so that one block takes about targetMs (at least 1). */
export function repsFor(fn: () => void, targetMs: number): number {
  let reps = 1;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) fn();
    const ms = performance.now() - t0;
    if (ms >= targetMs / 4 || reps >= 1 << 20) return Math.max(1, Math.round((reps * targetMs) / Math.max(ms, 1e-3)));
    reps *= 4;
  }
}

/**
 * As timeBlocks, but per-call CPU time of this process (user + system) instead
 * of wall time: for single-threaded computation this is what the wall time
 * would be on an idle core, so it stays meaningful on a shared machine.
 */
export function timeBlocksCpu(fn: () => void, reps: number, runs: number): number[] {
  for (let i = 0; i < reps; i++) fn();
  const out: number[] = [];
  for (let r = 0; r < runs; r++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < reps; i++) fn();
    const c = process.cpuUsage(c0);
    out.push((c.user + c.system) / 1000 / reps);
  }
  return out;
}

/** CPU milliseconds of this process so far (user + system). */
export function cpuMs(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
}
