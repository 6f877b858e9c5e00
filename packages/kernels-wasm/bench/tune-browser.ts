// bench/tune.ts for Chromium: compares kernel parameter sets inside a Web
// Worker (wall time, interleaved). Dev tool:
//   node --import tsx bench/tune-browser.ts '{"mr":4}' '{"mr":5}'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileWasm } from '../scripts/build-wasm.js';
import { DEFAULT_PARAMS, type KernelParams } from '../scripts/gen-wat.js';
import { runInChromiumWorker } from './browser-run.js';
import { MODELS } from '@gradmesh/core/test-kit/bench-shapes';

const variants = process.argv.slice(2).map((s) => ({ ...DEFAULT_PARAMS, ...JSON.parse(s) }) as KernelParams);
if (!variants.length) variants.push(DEFAULT_PARAMS);
const wasms = await Promise.all(variants.map(async (v) => Buffer.from((await compileWasm(v)).wasm).toString('base64')));

// The worker body, as source: runs the same interleaved comparison as tune.ts.
const body = (b64s: string[], models: typeof MODELS, rounds: number) => {
  const post = (m: unknown) => (globalThis as unknown as { postMessage(m: unknown): void }).postMessage(m);
  const memory = new WebAssembly.Memory({ initial: 2048 });
  const exs = b64s.map((b) => {
    const bytes = Uint8Array.from(atob(b), (c) => c.charCodeAt(0));
    return new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports as unknown as {
      gemm(...a: number[]): void;
    };
  });
  const f32 = new Float32Array(memory.buffer);
  for (let i = 0; i < f32.length; i++) f32[i] = Math.random() - 0.5;
  const lines: string[] = [];
  for (const model of models) {
    const run = (ex: (typeof exs)[0], g: (typeof model.gemms)[0]) => {
      const A = 1 << 20, B = A + g.m * g.k * 4 + 64, C = B + g.k * g.n * 4 + 64, S = C + g.m * g.n * 4 + 64;
      ex.gemm(g.form === 'TN' ? 1 : 0, g.form === 'NT' ? 1 : 0, g.m, g.n, g.k, A, B, C, 0, S);
    };
    const t0 = performance.now();
    while (performance.now() - t0 < 1500) for (const ex of exs) for (const g of model.gemms) run(ex, g);
    const totals = exs.map(() => 0);
    for (const g of model.gemms) {
      const flops = 2 * g.m * g.n * g.k;
      const reps = Math.max(1, Math.round(6e7 / flops));
      const times: number[][] = exs.map(() => []);
      for (let r = 0; r < rounds; r++) {
        exs.forEach((ex, vi) => {
          const t = performance.now();
          for (let i = 0; i < reps; i++) run(ex, g);
          times[vi].push((performance.now() - t) / reps / 1000);
        });
      }
      const row = times.map((t, vi) => {
        t.sort((a, b) => a - b);
        totals[vi] += t[0];
        return `v${vi + 1} min ${(flops / t[0] / 1e9).toFixed(1)} med ${(flops / t[t.length >> 1] / 1e9).toFixed(1)}`;
      });
      lines.push(`${g.form} ${g.m}×${g.n}×${g.k}`.padEnd(18) + row.join(' | ') + ' GFLOP/s');
    }
    lines.push(`${model.name}: ${totals.map((t, vi) => `v${vi + 1} ${Math.round(model.batch / t)}`).join('  ')} samples/s (sum of mins)\n`);
  }
  post({ result: lines.join('\n') });
};

const dir = mkdtempSync(join(tmpdir(), 'gm-tune-'));
try {
  const entry = join(dir, 'entry.ts');
  // tsx compiles this file keeping function names through an __name helper the worker lacks.
  writeFileSync(entry, `const __name = (f: unknown) => f;\n(${body.toString()})(${JSON.stringify(wasms)}, ${JSON.stringify(MODELS.slice(0, 2))}, ${Number(process.env.ROUNDS ?? 15)});\n`);
  console.log(variants.map((v, i) => `v${i + 1} ${JSON.stringify(v)}`).join('\n'));
  console.log(await runInChromiumWorker<string>(entry));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
