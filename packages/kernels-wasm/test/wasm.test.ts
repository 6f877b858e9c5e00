import { describe, expect, test } from 'vitest';
import { createWasmKernels, kernelFingerprint } from '../src/index.js';
import { KERNELS_WASM_BASE64 } from '../src/generated/kernels.wasm.js';
import { decodeBase64 } from '../src/base64.js';
import { describeBlocksConformance, describeKernelConformance, randomFill, referenceGemm } from '@gradmesh/core/test-kit/kernel-conformance';

describeKernelConformance('wasm-simd128', () => createWasmKernels());
describeBlocksConformance('wasm-simd128', () => createWasmKernels({ initialMiB: 32 }));

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

describe('wasm memory model', () => {
  test('alloc returns 64-byte-aligned views into the linear memory', () => {
    const kernels = createWasmKernels({ initialMiB: 1 });
    const a = kernels.alloc(3);
    const b = kernels.alloc(5);
    expect(a.buffer).toBe(kernels.memory.buffer);
    expect(b.buffer).toBe(kernels.memory.buffer);
    expect(a.byteOffset % 64).toBe(0);
    expect(b.byteOffset % 64).toBe(0);
    expect(b.byteOffset).toBeGreaterThanOrEqual(a.byteOffset + 12);
    expect(kernels.allocatedBytes).toBe(128);
  });

  test('alloc returns zeros even where an earlier gemm used the space as scratch', () => {
    const kernels = createWasmKernels({ initialMiB: 4 });
    const [m, n, k] = [40, 50, 60];
    const A = randomFill(new Float32Array(m * k), 1);
    const B = randomFill(new Float32Array(k * n), 2);
    kernels.gemm(false, true, m, n, k, A, B, new Float32Array(m * n), false); // copies + scratch above top
    const fresh = kernels.alloc(m * k + k * n);
    expect(fresh.every((x) => x === 0)).toBe(true);
  });

  test('gemm on alloc views runs in place: no room for copies is needed', () => {
    // 2 MiB memory holding 1.3 MB of operands and 0.4 MB of kernel scratch:
    // copying the operands would need 1.3 MB more, which cannot be had
    // without detaching these views (and maximumMiB forbids it anyway).
    const kernels = createWasmKernels({ initialMiB: 2, maximumMiB: 2 });
    const [m, n, k] = [128, 128, 1200];
    const A = randomFill(kernels.alloc(m * k), 3);
    const B = randomFill(kernels.alloc(k * n), 4);
    const C = kernels.alloc(m * n);
    kernels.gemm(false, false, m, n, k, A, B, C, false);
    const ref = referenceGemm(false, false, m, n, k, A, B, C, false);
    for (let i = 0; i < C.length; i += 97) expect(C[i]).toBeCloseTo(ref.value[i], 3);
  });

  test('arrays outside wasm memory (and mixes) give the same bits as views inside it', () => {
    const kernels = createWasmKernels();
    const [m, n, k] = [33, 17, 65];
    const A = randomFill(kernels.alloc(m * k), 5);
    const B = randomFill(kernels.alloc(k * n), 6);
    const C = randomFill(kernels.alloc(m * n), 7);
    const C0 = C.slice();
    kernels.gemm(true, false, m, n, k, A, B, C, true);
    const expected = bits(C).slice();
    for (const [a, b] of [[A.slice(), B.slice()], [A, B.slice()], [A.slice(), B]] as const) {
      const out = C0.slice(); // C outside memory too
      kernels.gemm(true, false, m, n, k, a, b, out, true);
      expect(bits(out)).toEqual(expected);
    }
  });

  test('memory grows for large foreign operands while no alloc view exists', () => {
    const kernels = createWasmKernels({ initialMiB: 1 });
    const [m, n, k] = [300, 300, 300];
    const A = randomFill(new Float32Array(m * k), 8);
    const B = randomFill(new Float32Array(k * n), 9);
    const C = new Float32Array(m * n);
    kernels.gemm(false, false, m, n, k, A, B, C, false);
    expect(kernels.capacityBytes).toBeGreaterThan(1 << 20);
    const ref = referenceGemm(false, false, m, n, k, A, B, C, false);
    for (let i = 0; i < C.length; i += 1009) expect(C[i]).toBeCloseTo(ref.value[i], 3);
  });

  test('running out of memory after alloc throws (naming a size) instead of detaching live views', () => {
    const kernels = createWasmKernels({ initialMiB: 1 });
    const kept = kernels.alloc(1000).fill(2.5);
    expect(() => kernels.alloc(1 << 20)).toThrow(/initialMiB: \d+/);
    const big = new Float32Array(400 * 400);
    expect(() => kernels.gemm(false, false, 400, 400, 400, big, big.slice(), new Float32Array(400 * 400), false)).toThrow(RangeError);
    expect(kept.length).toBe(1000); // not detached
    expect(kept[999]).toBe(2.5);
    expect(kept.buffer).toBe(kernels.memory.buffer);
  });

  test('rejects a C that overlaps A or B', () => {
    const kernels = createWasmKernels({ initialMiB: 1 });
    const f = kernels.alloc(16);
    expect(() => kernels.gemm(false, false, 2, 2, 2, f.subarray(0, 4), f.subarray(4, 8), f.subarray(2, 6), false)).toThrow(/overlap/);
  });

  test('rejects non-integer or negative sizes and non-Float32Array operands', () => {
    const kernels = createWasmKernels({ initialMiB: 1 });
    const f = new Float32Array(16);
    const g = kernels.gemm as (...a: unknown[]) => void;
    expect(() => g(false, false, 2.5, 2, 2, f, f, f, false)).toThrow(RangeError);
    expect(() => g(false, false, -1, 2, 2, f, f, f, false)).toThrow(RangeError);
    expect(() => g(false, false, 2, 2, 2, new Float64Array(4), f.subarray(4), f.subarray(8), false)).toThrow(TypeError);
  });

  test('kernel sets are independent: two instances have separate memories', () => {
    const k1 = createWasmKernels({ initialMiB: 1 });
    const k2 = createWasmKernels({ initialMiB: 1 });
    expect(k1.memory).not.toBe(k2.memory);
    const a = k1.alloc(4).fill(1);
    const b = k2.alloc(4);
    expect(Array.from(b)).toEqual([0, 0, 0, 0]);
    expect(a[0]).toBe(1);
  });

  test('bits are pinned (multiply then add, k in order; independent of the tile shape)', () => {
    // Changing this means workers on different versions disagree: do it on purpose.
    expect(kernelFingerprint(createWasmKernels())).toBe('05390e70');
  });

  test('the embedded module is plain SIMD128: no relaxed-simd opcodes', () => {
    // relaxed-simd (0xfd 0x100..0x113 as LEB128: 0x80-0x93 0x02) may differ
    // between engines; its absence keeps Node and browsers bit-identical.
    const bytes = decodeBase64(KERNELS_WASM_BASE64);
    expect(Array.from(bytes.subarray(0, 4))).toEqual([0, 0x61, 0x73, 0x6d]);
    for (let i = 0; i + 2 < bytes.length; i++) {
      if (bytes[i] === 0xfd && bytes[i + 1] >= 0x80 && bytes[i + 1] <= 0x93 && bytes[i + 2] === 0x02) {
        throw new Error(`relaxed-simd opcode at byte ${i}`);
      }
    }
  });
});
