import type { Kernels } from '@gradmesh/core';
import { decodeBase64 } from './base64.js';
import { KERNELS_WASM_BASE64 } from './generated/kernels.wasm.js';
import { PAGE_BYTES, wasmApi, type WasmMemory } from './wasm-api.js';

export interface WasmKernelsOptions {
  /**
   * Linear memory reserved at creation, in MiB (default 64). Everything
   * `alloc` returns and all gemm scratch lives here. Untouched pages cost no
   * RAM on 64-bit engines, so reserve generously: memory can only grow while
   * no `alloc` view exists (see `WasmKernels`).
   */
  initialMiB?: number;
  /** Ceiling for growth, in MiB (default and maximum 4096 — wasm32). */
  maximumMiB?: number;
}

/**
 * Kernels whose buffers live in one WebAssembly memory.
 *
 * Memory model — a bump allocator that never frees:
 * - `alloc(n)` returns a zeroed Float32Array view into the linear memory,
 *   64-byte aligned. gemm on such views (and on any subarray of them) passes
 *   pointers: no copy. Allocate layer buffers once, not per step.
 * - gemm on arrays outside the memory copies them into scratch and C back
 *   out: correct, slower.
 * - Scratch (packed panels, copies) is the free space above the last alloc,
 *   reused by every call.
 * - Growing a wasm memory detaches its ArrayBuffer and with it every view
 *   `alloc` returned (they silently become length 0). So memory grows only
 *   while no view has been handed out; after that, running out throws a
 *   RangeError naming the `initialMiB` that would have fitted, instead of
 *   corrupting data.
 */
export interface WasmKernels extends Kernels {
  readonly memory: WasmMemory;
  /** Bytes handed out by `alloc` so far (including alignment). */
  readonly allocatedBytes: number;
  /** Current size of the linear memory in bytes. */
  readonly capacityBytes: number;
}

interface Exports {
  gemm(ta: number, tb: number, m: number, n: number, k: number, A: number, B: number, C: number, acc: number, S: number): void;
  scratchBytes(m: number, n: number, k: number): number;
}

const MIB = 1 << 20;
const ALIGN = 64;
// Largest matrix, in floats, whose byte size and offsets stay in the i32 the kernels compute with.
const MAX_FLOATS = 2 ** 28;
// Bytes after the last scratch byte never touched by gemm, so that no v128
// access can reach the end of memory even if a future kernel over-reads.
const TAIL_SLACK = 64;

let compiled: object | null = null;
function kernelModule(): object {
  compiled ??= new (wasmApi().Module)(decodeBase64(KERNELS_WASM_BASE64));
  return compiled;
}

const align = (x: number) => Math.ceil(x / ALIGN) * ALIGN;

function checkDim(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) {
    throw new RangeError(`gemm: ${name} must be an integer in [0, 2^31), got ${v}`);
  }
}

function checkArray(name: string, a: Float32Array, need: number): void {
  if (!(a instanceof Float32Array)) throw new TypeError(`gemm: ${name} must be a Float32Array`);
  if (a.length < need) throw new RangeError(`gemm: ${name} has ${a.length} elements, the shape needs ${need}`);
  if (need > MAX_FLOATS) throw new RangeError(`gemm: ${name} needs ${need} floats; the WASM kernels take at most 2^28`);
}

function overlaps(a: Float32Array, na: number, b: Float32Array, nb: number): boolean {
  if (na === 0 || nb === 0 || a.buffer !== b.buffer) return false;
  return a.byteOffset < b.byteOffset + nb * 4 && b.byteOffset < a.byteOffset + na * 4;
}

/** WebAssembly SIMD128 kernels: synchronous, isomorphic, no file loading. */
export function createWasmKernels(options: WasmKernelsOptions = {}): WasmKernels {
  const initialMiB = options.initialMiB ?? 64;
  const maximumMiB = Math.min(options.maximumMiB ?? 4096, 4096);
  if (!(initialMiB > 0 && initialMiB <= maximumMiB)) {
    throw new RangeError(`createWasmKernels: initialMiB must be in (0, maximumMiB=${maximumMiB}], got ${initialMiB}`);
  }
  const api = wasmApi();
  const memory = new api.Memory({
    initial: Math.ceil((initialMiB * MIB) / PAGE_BYTES),
    maximum: Math.ceil((maximumMiB * MIB) / PAGE_BYTES),
  });
  const ex = new api.Instance(kernelModule(), { env: { memory } }).exports as unknown as Exports;

  let heap = new Float32Array(memory.buffer);
  let top = ALIGN; // offset 0 stays unused, so no view starts at address 0
  let viewsOut = 0;

  /** Make memory at least `end` bytes long, or throw if that would detach live views. */
  function ensure(end: number, what: string): void {
    const need = end + TAIL_SLACK;
    const have = memory.buffer.byteLength;
    if (need <= have) return;
    if (viewsOut > 0) {
      throw new RangeError(
        `gradmesh WASM kernels: ${what} needs ${Math.ceil(need / MIB)} MiB of linear memory but ${have / MIB} MiB ` +
          `are reserved, and growing would detach the ${viewsOut} buffers alloc() already returned. ` +
          `Create the kernels with createWasmKernels({ initialMiB: ${Math.ceil((need * 1.25) / MIB)} }) or more.`,
      );
    }
    const pages = Math.ceil((need - have) / PAGE_BYTES);
    try {
      memory.grow(pages);
    } catch {
      throw new RangeError(`gradmesh WASM kernels: ${what} needs ${Math.ceil(need / MIB)} MiB; memory cannot grow past maximumMiB=${maximumMiB}`);
    }
    heap = new Float32Array(memory.buffer);
  }

  function alloc(length: number): Float32Array {
    if (!Number.isInteger(length) || length < 0 || length > MAX_FLOATS) {
      throw new RangeError(`alloc: length must be an integer in [0, 2^28], got ${length}`);
    }
    const start = top;
    const end = align(start + length * 4);
    ensure(end, `alloc(${length})`);
    top = end;
    const view = new Float32Array(memory.buffer, start, length);
    view.fill(0); // scratch may have used these bytes
    if (length > 0) viewsOut++;
    return view;
  }

  function gemm(
    transA: boolean, transB: boolean, m: number, n: number, k: number,
    A: Float32Array, B: Float32Array, C: Float32Array, accumulate: boolean,
  ): void {
    checkDim('m', m);
    checkDim('n', n);
    checkDim('k', k);
    const na = m * k;
    const nb = k * n;
    const nc = m * n;
    checkArray('A', A, na);
    checkArray('B', B, nb);
    checkArray('C', C, nc);
    if (overlaps(C, nc, A, na) || overlaps(C, nc, B, nb)) throw new RangeError('gemm: C must not overlap A or B');
    if (nc === 0) return;

    const buf = memory.buffer;
    if (heap.buffer !== buf) heap = new Float32Array(buf); // grown through .memory by someone else
    const inA = A.buffer === buf;
    const inB = B.buffer === buf;
    const inC = C.buffer === buf;
    // Scratch layout above the bump pointer: [copies of foreign A, B, C] [kernel scratch].
    let cursor = top;
    const place = (inside: boolean, len: number) => {
      if (inside) return -1;
      const at = cursor;
      cursor = align(cursor + len * 4);
      return at;
    };
    const cpA = place(inA, na);
    const cpB = place(inB, nb);
    const cpC = place(inC, nc);
    const S = cursor;
    ensure(S + ex.scratchBytes(m, n, k), `gemm ${m}×${n}×${k}`);
    if (cpA >= 0) heap.set(A.subarray(0, na), cpA >> 2);
    if (cpB >= 0) heap.set(B.subarray(0, nb), cpB >> 2);
    if (cpC >= 0 && accumulate) heap.set(C.subarray(0, nc), cpC >> 2);
    ex.gemm(
      transA ? 1 : 0, transB ? 1 : 0, m, n, k,
      inA ? A.byteOffset : cpA, inB ? B.byteOffset : cpB, inC ? C.byteOffset : cpC,
      accumulate ? 1 : 0, S,
    );
    if (cpC >= 0) C.set(heap.subarray(cpC >> 2, (cpC >> 2) + nc));
  }

  return {
    // Tile shape is not in the name: the bits do not depend on it (see gen-wat.ts).
    name: 'wasm-simd128',
    alloc,
    gemm,
    memory,
    get allocatedBytes() {
      return top - ALIGN;
    },
    get capacityBytes() {
      return memory.buffer.byteLength;
    },
  };
}
