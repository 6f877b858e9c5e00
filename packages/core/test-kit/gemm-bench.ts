// GFLOP/s of a kernel set on the gemm shapes of the benchmark models' training
// steps, and the samples/s those gemms alone would allow. Shared by the
// kernel packages' bench/gemm.ts and kernels-wasm's Chromium bench.
import type { Kernels } from '../src/index.js';
import { MODELS, TARGETS, type GemmShape } from './bench-shapes.js';

let now = () => performance.now();

/**
 * Milliseconds of this process's CPU time (Node), for benchmarking on a
 * shared machine: wall time also counts the time the process waits for a
 * core. Browsers have no such clock and use wall time.
 */
export function cpuClock(): (() => number) | undefined {
  const p = (globalThis as { process?: { cpuUsage?: () => { user: number; system: number } } }).process;
  if (!p?.cpuUsage) return undefined;
  const cpu = p.cpuUsage.bind(p);
  return () => {
    const u = cpu();
    return (u.user + u.system) / 1000;
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

interface Prepared {
  shape: GemmShape;
  run: () => void;
}

function prepare(kernels: Kernels, shape: GemmShape, seed: number): Prepared {
  const { form, m, n, k } = shape;
  const A = kernels.alloc(m * k);
  const B = kernels.alloc(k * n);
  const C = kernels.alloc(m * n);
  let s = seed >>> 0;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  for (let i = 0; i < A.length; i++) A[i] = rnd();
  for (let i = 0; i < B.length; i++) B[i] = rnd();
  const ta = form === 'TN';
  const tb = form === 'NT';
  return { shape, run: () => kernels.gemm(ta, tb, m, n, k, A, B, C, false) };
}

/** Seconds per call of `fn`: median and best of `samples` samples of ≥ `minMs` each. */
function timeIt(fn: () => void, samples: number, minMs: number): { median: number; best: number } {
  let reps = 1;
  for (;;) {
    const t0 = now();
    for (let r = 0; r < reps; r++) fn();
    const dt = now() - t0;
    if (dt >= minMs) break;
    reps = Math.max(reps * 2, Math.ceil((reps * minMs * 1.2) / Math.max(dt, 0.01)));
  }
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = now();
    for (let r = 0; r < reps; r++) fn();
    out.push((now() - t0) / reps / 1000);
  }
  return { median: median(out), best: Math.min(...out) };
}

export interface BenchOptions {
  samples?: number;
  minMs?: number;
  /** ms clock to time with (default performance.now; see cpuClock) */
  clock?: () => number;
  /** samples/s targets per model name, and the column title for them */
  targets?: Record<string, number>;
  targetLabel?: string;
  log?: (line: string) => void;
}

export interface BenchResult {
  kernels: string;
  gemms: { model: string; form: string; m: number; n: number; k: number; us: number; gflops: number; bestGflops: number }[];
  models: { model: string; sumOfGemmsSamplesPerSec: number; bestSumOfGemmsSamplesPerSec: number; stepSamplesPerSec: number; target?: number }[];
}

/**
 * GFLOP/s per gemm shape of each model step, then samples/s two ways: from
 * the sum of the separately timed gemms, and from timing the whole sequence
 * back to back (closer to training: caches hold the previous gemm's data).
 */
export function benchKernels(kernels: Kernels, opts: BenchOptions = {}): BenchResult {
  const samples = opts.samples ?? 7;
  const minMs = opts.minMs ?? 30;
  const log = opts.log ?? ((l: string) => console.log(l));
  now = opts.clock ?? (() => performance.now());
  const result: BenchResult = { kernels: kernels.name, gemms: [], models: [] };
  log(`\n## ${kernels.name}  (median and best of ${samples} samples of ≥ ${minMs} ms, ${opts.clock ? 'CPU time' : 'wall time'})\n`);
  const prepared = MODELS.map((model) => model.gemms.map((g, i) => prepare(kernels, g, 17 + i)));
  // Warm-up over every shape: V8 runs WASM in its baseline compiler first and
  // tiers hot functions up; native code warms caches and page tables.
  const w0 = now();
  while (now() - w0 < 1000) for (const ps of prepared) for (const p of ps) p.run();
  log('| model | form | m×n×k | µs/call (median) | GFLOP/s (median) | GFLOP/s (best) |');
  log('|---|---|---|---:|---:|---:|');
  MODELS.forEach((model, mi) => {
    let sum = 0;
    let bestSum = 0;
    for (const p of prepared[mi]) {
      const t = timeIt(p.run, samples, minMs);
      const { form, m, n, k } = p.shape;
      const flops = 2 * m * n * k;
      sum += t.median;
      bestSum += t.best;
      result.gemms.push({ model: model.name, form, m, n, k, us: t.median * 1e6, gflops: flops / t.median / 1e9, bestGflops: flops / t.best / 1e9 });
      log(`| ${model.name} | ${form} | ${m}×${n}×${k} | ${(t.median * 1e6).toFixed(1)} | ${(flops / t.median / 1e9).toFixed(1)} | ${(flops / t.best / 1e9).toFixed(1)} |`);
    }
    const step = timeIt(() => { for (const p of prepared[mi]) p.run(); }, samples, minMs);
    result.models.push({
      model: model.name,
      sumOfGemmsSamplesPerSec: model.batch / sum,
      bestSumOfGemmsSamplesPerSec: model.batch / bestSum,
      stepSamplesPerSec: model.batch / step.median,
      target: (opts.targets ?? TARGETS)[model.name],
    });
  });
  log(`\n| model | samples/s: sum of gemm medians | sum of gemm bests | gemm sequence (median) | ${opts.targetLabel ?? 'Node target'} |`);
  log('|---|---:|---:|---:|---:|');
  const fmt = (x: number) => Math.round(x).toLocaleString('en');
  for (const r of result.models) {
    log(`| ${r.model} | ${fmt(r.sumOfGemmsSamplesPerSec)} | ${fmt(r.bestSumOfGemmsSamplesPerSec)} | ${fmt(r.stepSamplesPerSec)} | ${r.target ? fmt(r.target) : '—'} |`);
  }
  return result;
}
