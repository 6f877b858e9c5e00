// The generator's claims: any tile shape assembles to valid SIMD128 and gives
// the same bits (one accumulator per element, k in order), and the committed
// module is what the generator makes now.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { compileWasm } from '../scripts/build-wasm.js';
import { DEFAULT_PARAMS, type KernelParams } from '../scripts/gen-wat.js';
import { KERNELS_WASM_BASE64 } from '../src/generated/kernels.wasm.js';
import { randomFill } from '@gradmesh/core/test-kit/kernel-conformance';

interface Ex {
  gemm(ta: number, tb: number, m: number, n: number, k: number, A: number, B: number, C: number, acc: number, S: number): void;
  scratchBytes(m: number, n: number, k: number): number;
}

async function instantiate(p: KernelParams): Promise<{ ex: Ex; f32: Float32Array }> {
  const { wasm } = await compileWasm(p);
  const memory = new WebAssembly.Memory({ initial: 64 });
  const ex = new WebAssembly.Instance(new WebAssembly.Module(wasm as BufferSource), { env: { memory } }).exports as unknown as Ex;
  return { ex, f32: new Float32Array(memory.buffer) };
}

describe('generated kernels', () => {
  test('the committed module is current (run `pnpm --filter @gradmesh/kernels-wasm build:wasm`)', async () => {
    const { wasm, wat } = await compileWasm(DEFAULT_PARAMS);
    expect(Buffer.from(wasm).toString('base64')).toBe(KERNELS_WASM_BASE64);
    expect(readFileSync(new URL('../src/generated/kernels.wat', import.meta.url), 'utf8')).toBe(wat);
  });

  test('gemm writes only C and the scratch bytes it declares', async () => {
    const { ex, f32 } = await instantiate(DEFAULT_PARAMS);
    const u32 = new Uint32Array(f32.buffer);
    const SENTINEL = 0xdeadbeef;
    for (const [m, n, k] of [[1, 1, 1], [7, 9, 600], [130, 17, 1025], [64, 128, 784], [3, 300, 5]]) {
      for (const [ta, tb] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
        u32.fill(SENTINEL);
        const A = 64, B = A + m * k * 4, C = B + k * n * 4, S = C + m * n * 4 + 4; // S deliberately unaligned
        f32.fill(0.5, A >> 2, C >> 2);
        ex.gemm(ta, tb, m, n, k, A, B, C, 0, S);
        const end = S + ex.scratchBytes(m, n, k);
        expect(u32[(C >> 2) + m * n]).toBe(SENTINEL); // the word between C and S
        for (let i = end >> 2; i < (end >> 2) + 4096; i++) if (u32[i] !== SENTINEL) throw new Error(`${m}×${n}×${k} wrote at ${i * 4} past ${end}`);
        expect(f32[C >> 2]).toBe(0.25 * k);
      }
    }
  });

  test('tile shape, unrolling and blocking do not change a single bit', async () => {
    const variants: KernelParams[] = [
      DEFAULT_PARAMS,
      { mr: 1, nv: 1, unroll: 1, kc: 7, mc: 3 },
      { mr: 3, nv: 3, unroll: 2, kc: 64, mc: 30 },
      { mr: 6, nv: 1, unroll: 4, kc: 256, mc: 128 },
    ];
    const [m, n, k] = [37, 29, 131];
    const A = randomFill(new Float32Array(m * k), 1);
    const B = randomFill(new Float32Array(k * n), 2);
    const C0 = randomFill(new Float32Array(m * n), 3);
    const results: Uint32Array[] = [];
    for (const p of variants) {
      const { ex, f32 } = await instantiate(p);
      const out: number[] = [];
      for (const [ta, tb] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
        f32.set(A, 1024);
        f32.set(B, 1024 + 8192);
        f32.set(C0, 1024 + 16384);
        ex.gemm(ta, tb, m, n, k, 4096, 4096 + 32768, 4096 + 65536, 1, 4096 + 131072);
        out.push(...new Uint32Array(f32.buffer, 4096 + 65536, m * n));
      }
      results.push(Uint32Array.from(out));
    }
    for (const r of results) expect(r).toEqual(results[0]);
  });
});
