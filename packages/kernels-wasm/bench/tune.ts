// Compare micro-kernel parameter sets on the training shapes, interleaved so
// that load from other processes hits every variant alike. Dev tool:
//   node --import tsx bench/tune.ts '{"mr":4,"nv":2,"unroll":1}' '{"mr":5,"nv":2,"unroll":1}'
import { compileWasm } from '../scripts/build-wasm.js';
import { DEFAULT_PARAMS, type KernelParams } from '../scripts/gen-wat.js';
import { MODELS } from '@gradmesh/core/test-kit/bench-shapes';

interface Ex {
  gemm(ta: number, tb: number, m: number, n: number, k: number, A: number, B: number, C: number, acc: number, S: number): void;
}

const variants = process.argv.slice(2).map((s) => ({ ...DEFAULT_PARAMS, ...JSON.parse(s) }) as KernelParams);
if (!variants.length) variants.push(DEFAULT_PARAMS);
const memory = new WebAssembly.Memory({ initial: 2048 });
const exs: Ex[] = [];
for (const v of variants) {
  const { wasm } = await compileWasm(v);
  exs.push(new WebAssembly.Instance(new WebAssembly.Module(wasm as BufferSource), { env: { memory } }).exports as unknown as Ex);
}
const f32 = new Float32Array(memory.buffer);
for (let i = 0; i < f32.length; i++) f32[i] = Math.random() - 0.5;

const rounds = Number(process.env.ROUNDS ?? 15);
// Warm up every variant on every shape first, so all code is TurboFan's (V8
// starts wasm in its baseline compiler, Liftoff, and tiers up hot functions).
for (const model of MODELS.slice(0, 2)) for (const g of model.gemms) for (const ex of exs) for (let i = 0; i < 3; i++) {
  const A = 1 << 20, B = A + g.m * g.k * 4 + 64, C = B + g.k * g.n * 4 + 64, S = C + g.m * g.n * 4 + 64;
  ex.gemm(g.form === 'TN' ? 1 : 0, g.form === 'NT' ? 1 : 0, g.m, g.n, g.k, A, B, C, 0, S);
}
for (const model of MODELS.slice(0, 2)) {
  const totals = variants.map(() => 0);
  for (const g of model.gemms) {
    const { m, n, k, form } = g;
    const A = 1 << 20, B = A + m * k * 4 + 64, C = B + k * n * 4 + 64, S = C + m * n * 4 + 64;
    const ta = form === 'TN' ? 1 : 0, tb = form === 'NT' ? 1 : 0;
    const flops = 2 * m * n * k;
    const reps = Math.max(1, Math.round(6e7 / flops));
    const times: number[][] = variants.map(() => []);
    for (let r = 0; r < rounds; r++) {
      exs.forEach((ex, vi) => {
        // CPU time, not wall time: on a shared machine the process is often
        // descheduled, which wall time would count.
        const t0 = process.cpuUsage();
        for (let i = 0; i < reps; i++) ex.gemm(ta, tb, m, n, k, A, B, C, 0, S);
        const dt = process.cpuUsage(t0);
        times[vi].push((dt.user + dt.system) / reps / 1e6);
      });
    }
    const row = times.map((t, vi) => {
      t.sort((a, b) => a - b);
      totals[vi] += t[0];
      return `v${vi + 1} min ${(flops / t[0] / 1e9).toFixed(1)} med ${(flops / t[t.length >> 1] / 1e9).toFixed(1)}`;
    });
    console.log(`${form} ${m}×${n}×${k}`.padEnd(18), row.join(' | '), 'GFLOP/s');
  }
  console.log(`${model.name}: ${totals.map((t, vi) => `v${vi + 1} ${Math.round(model.batch / t)}`).join('  ')} samples/s (sum of mins)\n`);
}
