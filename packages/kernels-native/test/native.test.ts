import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import { loadNativeKernels, nativeIsas, tryLoadNativeKernels, type NativeIsa } from '../src/index.js';
import { createWasmKernels, kernelFingerprint } from '@gradmesh/kernels-wasm';
import { describeBlocksConformance, describeKernelConformance, randomFill } from '@gradmesh/core/test-kit/kernel-conformance';
import { PLAN_ADD, PLAN_LEAF, type BlockPlan } from '@gradmesh/core';

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const loaded = tryLoadNativeKernels();

describe('loading', () => {
  const savedIsa = process.env.GRADMESH_NATIVE_ISA;
  afterEach(() => {
    if (savedIsa === undefined) delete process.env.GRADMESH_NATIVE_ISA;
    else process.env.GRADMESH_NATIVE_ISA = savedIsa;
  });

  test('the addon is built at install and loads (set GRADMESH_SKIP_NATIVE_BUILD to build without it)', () => {
    if (process.env.GRADMESH_SKIP_NATIVE_BUILD) return;
    expect(loaded.reason).toBeNull();
    expect(loaded.kernels?.name).toMatch(/^native-(avx512|avx2|generic)$/);
  });

  test('picks the best ISA the CPU runs, and always offers generic', () => {
    if (!loaded.kernels) return;
    const isas = nativeIsas();
    expect(isas.at(-1)).toBe('generic');
    delete process.env.GRADMESH_NATIVE_ISA;
    expect(loadNativeKernels()?.isa).toBe(isas[0]);
  });

  test('GRADMESH_NATIVE_ISA=generic forces the portable kernels', () => {
    if (!loaded.kernels) return;
    process.env.GRADMESH_NATIVE_ISA = 'generic';
    expect(loadNativeKernels()?.name).toBe('native-generic');
  });

  test('an unknown or unsupported ISA gives null and a reason', () => {
    if (!loaded.kernels) return;
    const bogus = tryLoadNativeKernels({ isa: 'sse9' as NativeIsa });
    expect(bogus.kernels).toBeNull();
    expect(bogus.reason).toMatch(/unknown ISA "sse9"/);
    if (!nativeIsas().includes('avx512')) {
      const r = tryLoadNativeKernels({ isa: 'avx512' });
      expect(r.kernels).toBeNull();
      expect(r.reason).toMatch(/cannot run the avx512 kernels/);
    }
  });

  test('without a built addon the loader returns null and says why, instead of throwing', () => {
    // The loader alone, in a folder with no build/: what a failed install leaves.
    const dir = mkdtempSync(join(tmpdir(), 'gm-native-'));
    try {
      mkdirSync(join(dir, 'src'));
      writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
      copyFileSync(join(pkgDir, 'src/index.ts'), join(dir, 'src/index.ts'));
      const code = `import('${join(dir, 'src/index.ts')}').then((m) => { const r = m.tryLoadNativeKernels(); console.log(JSON.stringify({ k: r.kernels, reason: r.reason, nul: m.loadNativeKernels() })); });`;
      const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], { cwd: pkgDir, encoding: 'utf8' });
      expect(r.stderr).toBe('');
      const out = JSON.parse(r.stdout);
      expect(out.k).toBeNull();
      expect(out.nul).toBeNull();
      expect(out.reason).toMatch(/addon not built or not loadable/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

for (const isa of nativeIsas()) {
  describeKernelConformance(`native-${isa}`, () => loadNativeKernels({ isa })!);
}

describe.skipIf(!loaded.kernels)('native gemm specifics', () => {
  const kernels = loaded.kernels!;

  test('AVX paths agree bit for bit (one fused multiply-add chain per element)', () => {
    const isas = nativeIsas().filter((i) => i !== 'generic');
    if (isas.length < 2) return;
    const [m, n, k] = [67, 45, 300];
    const A = randomFill(new Float32Array(m * k), 3);
    const B = randomFill(new Float32Array(k * n), 4);
    const outs = isas.map((isa) => {
      const C = new Float32Array(m * n);
      loadNativeKernels({ isa })!.gemm(false, true, m, n, k, A, B, C, false);
      return new Uint32Array(C.buffer);
    });
    for (const o of outs) expect(o).toEqual(outs[0]);
  });

  test('loads and runs in worker threads (one scratch per thread), concurrently', async () => {
    const { Worker } = await import('node:worker_threads');
    const addon = join(pkgDir, 'build/Release/gradmesh_kernels.node');
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const lib = require(workerData.addon);
      const n = 96, A = new Float32Array(n * n).fill(0.5), C = new Float32Array(n * n);
      for (let r = 0; r < 50; r++) lib['gemm_' + lib.isas[0]](false, true, n, n, n, A, A, C, false);
      parentPort.postMessage(C[n * n - 1]);`;
    const results = await Promise.all([0, 1, 2].map(() => new Promise((resolve, reject) => {
      const w = new Worker(code, { eval: true, workerData: { addon } });
      w.once('message', resolve);
      w.once('error', reject);
    })));
    expect(results).toEqual([24, 24, 24]);
  });

  test('bits are pinned: AVX paths = one FMA chain; generic = multiply-then-add = the WASM kernels', () => {
    // A changed fingerprint means a changed summation: workers on different
    // versions would no longer agree bit for bit. Change it deliberately.
    const FMA_CHAIN = '50a6b430';
    const MUL_ADD_CHAIN = kernelFingerprint(createWasmKernels());
    expect(MUL_ADD_CHAIN).toBe('05390e70');
    for (const isa of nativeIsas()) {
      const fp = kernelFingerprint(loadNativeKernels({ isa })!);
      if (isa !== 'generic') expect(fp).toBe(FMA_CHAIN);
      else expect(fp).toBe(MUL_ADD_CHAIN);
    }
  });

  test('reads and writes SharedArrayBuffer-backed arrays in place', () => {
    const sab = new Float32Array(new SharedArrayBuffer(4 * (6 + 6 + 4)));
    const A = sab.subarray(0, 6).fill(1);
    const B = sab.subarray(6, 12).fill(0.5);
    const C = sab.subarray(12, 16);
    kernels.gemm(false, false, 2, 2, 3, A, B, C, false);
    expect(Array.from(C)).toEqual([1.5, 1.5, 1.5, 1.5]);
  });

  test('rejects bad arguments with typed errors instead of crashing', () => {
    const f = new Float32Array(16);
    const g = kernels.gemm as (...a: unknown[]) => void;
    expect(() => g(false, false, 2, 2, 2, f, f.subarray(4), f.subarray(8))).toThrow(/9 arguments/);
    expect(() => g(0, false, 2, 2, 2, f, f, f, false)).toThrow(TypeError);
    expect(() => g(false, false, 2.5, 2, 2, f, f, f, false)).toThrow(RangeError);
    expect(() => g(false, false, -1, 2, 2, f, f, f, false)).toThrow(RangeError);
    expect(() => g(false, false, 2, 2, 2, new Float64Array(4), f, f, false)).toThrow(TypeError);
    expect(() => g(false, false, 2, 2, 2, [1, 2, 3, 4], f, f, false)).toThrow(TypeError);
    // C overlapping an input would be read after being written: refused.
    expect(() => g(false, false, 2, 2, 2, f.subarray(0, 4), f.subarray(4, 8), f.subarray(2, 6), false)).toThrow(/overlap/);
  });
});

for (const isa of nativeIsas()) describeBlocksConformance(`native-${isa}`, () => loadNativeKernels({ isa })!);

describe.skipIf(!loaded.kernels)('gemmTnBlocks argument checks', () => {
  test('a malformed plan or buffer is a RangeError/TypeError, never a wild read or write', () => {
    const k = loaded.kernels!;
    const A = new Float32Array(8 * 4);
    const B = new Float32Array(8 * 3);
    const out = [new Float32Array(12)];
    const bounds = Int32Array.of(0, 4, 8);
    const plan = (ops: number[], slots = 2, outSlots = [0]): BlockPlan => ({ ops: Int32Array.from(ops), slots, outSlots: Int32Array.from(outSlots) });
    const run = (p: BlockPlan, b = bounds, o = out) => () => k.gemmTnBlocks!(4, 3, A, B, b, p, o);
    expect(run(plan([PLAN_LEAF, 0, 0, PLAN_LEAF, 1, 1, PLAN_ADD, 0, 1]))).not.toThrow();
    expect(run(plan([PLAN_LEAF, 2, 0]))).toThrow(/block or slot out of range/);
    expect(run(plan([PLAN_LEAF, 0, 2]))).toThrow(/block or slot out of range/);
    expect(run(plan([PLAN_LEAF, 0, 0, PLAN_ADD, 0, 0]))).toThrow(/addition/);
    expect(run(plan([PLAN_LEAF, 0, 0, 7, 0, 1]))).toThrow(/unknown plan op/);
    expect(run(plan([PLAN_LEAF, 0, 0], 2, [3]))).toThrow(/output slot/);
    expect(run(plan([PLAN_LEAF, 0, 0], 2000))).toThrow(/slots/);
    expect(run(plan([PLAN_LEAF, 0, 0]), Int32Array.of(0, 4, 2))).toThrow(/decrease/);
    expect(run(plan([PLAN_LEAF, 0, 0]), Int32Array.of(0, 4, 9))).toThrow(/elements/);
    expect(run(plan([PLAN_LEAF, 0, 0]), bounds, [])).toThrow(/one Float32Array per plan output/);
    expect(run(plan([PLAN_LEAF, 0, 0]), bounds, [new Float32Array(5)])).toThrow(/elements/);
    expect(run(plan([PLAN_LEAF, 0, 0]), bounds, [A.subarray(0, 12)])).toThrow(/overlap/);
  });
});

describe.skipIf(!loaded.kernels)('allFinite (the coordinator\'s gradient check)', () => {
  test.each(nativeIsas())('%s: false exactly when some element is NaN or ±Infinity, at any position and length', (isa) => {
    const check = loadNativeKernels({ isa })!.allFinite!;
    const specials = [NaN, Infinity, -Infinity];
    const finite = [0, -0, 1e-45, -3.4028234663852886e38, 3.4028234663852886e38, 1.5];
    for (const n of [0, 1, 7, 8, 9, 31, 64, 1000]) {
      const x = new Float32Array(n).map((_, i) => finite[i % finite.length]!);
      expect(check(n, x)).toBe(true);
      for (let pos = 0; pos < n; pos += Math.max(1, n >> 3)) {
        for (const bad of specials) {
          const y = x.slice();
          y[pos] = bad;
          expect(check(n, y), `${isa} n=${n} pos=${pos} ${bad}`).toBe(false);
          expect(check(pos, y)).toBe(true); // only the first `length` elements count
        }
      }
    }
    // NaN payloads and signs: every all-ones exponent is caught.
    const bits = new Uint32Array([0x7f800001, 0xffc00000, 0x7fffffff]);
    for (const b of bits) expect(check(1, new Float32Array(Uint32Array.of(b).buffer))).toBe(false);
  });
});
