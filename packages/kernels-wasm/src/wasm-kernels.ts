import { checkPlan, fusePlanOps, type BlockPlan, type Kernels } from '@gradmesh/core';
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
  relu(n: number, x: number): void;
  axpy(n: number, alpha: number, x: number, y: number): void;
  reluBackwardColSums(rows: number, cols: number, a: number, d: number, out: number, acc: number): void;
  gemmTnBlocks(m: number, n: number, A: number, B: number, bounds: number, nblocks: number, ops: number, nops: number, outs: number, outSlots: number, nouts: number, S: number): void;
  blocksScratchBytes(m: number, n: number, rows: number, slots: number): number;
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

/**
 * Compiles the kernels' module now (once per thread; later instances reuse
 * it). A host that can choose how its engine compiles (Node: V8 flags) calls
 * this while it has chosen, see @gradmesh/engine/node's loadKernels.
 */
export function compileKernelModule(): void {
  kernelModule();
}

const align = (x: number) => Math.ceil(x / ALIGN) * ALIGN;

function checkDim(name: string, v: number, op = 'gemm'): void {
  if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) {
    throw new RangeError(`${op}: ${name} must be an integer in [0, 2^31), got ${v}`);
  }
}

function checkArray(name: string, a: Float32Array, need: number, op = 'gemm'): void {
  if (!(a instanceof Float32Array)) throw new TypeError(`${op}: ${name} must be a Float32Array`);
  if (a.length < need) throw new RangeError(`${op}: ${name} has ${a.length} elements, the shape needs ${need}`);
  if (need > MAX_FLOATS) throw new RangeError(`${op}: ${name} needs ${need} floats; the WASM kernels take at most 2^28`);
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

  // Operands of one call: a view into the memory is passed as its byte
  // offset; any other array gets a slot in the scratch above `top` (from
  // `cursor` up), is copied in before the call if it is read, and copied back
  // after if it is written. Nothing is allocated for in-memory operands.
  let cursor = 0;
  function place(a: Float32Array, len: number): number {
    if (a.buffer === memory.buffer) return a.byteOffset;
    const at = cursor;
    cursor = align(cursor + len * 4);
    return at;
  }
  function copyIn(a: Float32Array, len: number, at: number): void {
    if (a.buffer !== memory.buffer && len > 0) heap.set(a.subarray(0, len), at >> 2);
  }
  function copyOut(a: Float32Array, len: number, at: number): void {
    if (a.buffer !== memory.buffer && len > 0) a.set(heap.subarray(at >> 2, (at >> 2) + len));
  }
  /** Starts placing a call's operands; returns nothing, resets the scratch cursor. */
  function begin(): void {
    if (heap.buffer !== memory.buffer) heap = new Float32Array(memory.buffer); // grown through .memory by someone else
    cursor = top;
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
    // Scratch above the bump pointer: [copies of foreign A, B, C] [kernel scratch].
    begin();
    const pA = place(A, na);
    const pB = place(B, nb);
    const pC = place(C, nc);
    const S = cursor;
    ensure(S + ex.scratchBytes(m, n, k), `gemm ${m}×${n}×${k}`);
    copyIn(A, na, pA);
    copyIn(B, nb, pB);
    if (accumulate) copyIn(C, nc, pC);
    ex.gemm(transA ? 1 : 0, transB ? 1 : 0, m, n, k, pA, pB, pC, accumulate ? 1 : 0, S);
    copyOut(C, nc, pC);
  }

  function relu(length: number, x: Float32Array): void {
    checkDim('length', length, 'relu');
    checkArray('x', x, length, 'relu');
    if (length === 0) return;
    begin();
    const px = place(x, length);
    ensure(cursor, `relu(${length})`);
    copyIn(x, length, px);
    ex.relu(length, px);
    copyOut(x, length, px);
  }

  function reluBackwardColSums(rows: number, cols: number, a: Float32Array, d: Float32Array, out: Float32Array): void {
    const op = 'reluBackwardColSums';
    checkDim('rows', rows, op);
    checkDim('cols', cols, op);
    const len = rows * cols;
    checkArray('a', a, len, op);
    checkArray('d', d, len, op);
    checkArray('out', out, cols, op);
    if (overlaps(a, len, d, len) || overlaps(out, cols, a, len) || overlaps(out, cols, d, len)) {
      throw new RangeError(`${op}: operands must not overlap`);
    }
    if (cols === 0) return;
    begin();
    const pa = place(a, len);
    const pd = place(d, len);
    const po = place(out, cols);
    const acc = align(cursor);
    ensure(acc + cols * 8, `${op} ${rows}×${cols}`);
    copyIn(a, len, pa);
    copyIn(d, len, pd);
    ex.reluBackwardColSums(rows, cols, pa, pd, po, acc);
    copyOut(d, len, pd);
    copyOut(out, cols, po);
  }

  function axpy(length: number, alpha: number, x: Float32Array, y: Float32Array): void {
    checkDim('length', length, 'axpy');
    if (typeof alpha !== 'number') throw new TypeError('axpy: alpha must be a number');
    checkArray('x', x, length, 'axpy');
    checkArray('y', y, length, 'axpy');
    if (overlaps(x, length, y, length)) throw new RangeError('axpy: operands must not overlap');
    if (length === 0) return;
    begin();
    const px = place(x, length);
    const py = place(y, length);
    ensure(cursor, `axpy(${length})`);
    copyIn(x, length, px);
    copyIn(y, length, py);
    ex.axpy(length, alpha, px, py);
    copyOut(y, length, py);
  }

  // Plans are reused step after step (the engine caches them): fuse each once.
  const fused = new WeakMap<BlockPlan, Int32Array>();

  /** Places `count` i32s in the scratch; returns the byte offset. */
  function placeInts(count: number): number {
    const at = cursor;
    cursor = align(cursor + count * 4);
    return at;
  }

  function gemmTnBlocks(m: number, n: number, A: Float32Array, B: Float32Array, bounds: Int32Array, plan: BlockPlan, outs: Float32Array[]): void {
    const op = 'gemmTnBlocks';
    checkDim('m', m, op);
    checkDim('n', n, op);
    const nblocks = bounds.length - 1;
    if (nblocks < 0 || bounds[0] !== 0) throw new RangeError(`${op}: bounds must start at 0`);
    for (let i = 1; i < bounds.length; i++) if (bounds[i]! < bounds[i - 1]!) throw new RangeError(`${op}: bounds must not decrease`);
    const rows = bounds[nblocks]!;
    checkDim('rows', rows, op);
    checkArray('A', A, rows * m, op);
    checkArray('B', B, rows * n, op);
    checkPlan(plan, nblocks);
    if (outs.length !== plan.outSlots.length) throw new RangeError(`${op}: the plan has ${plan.outSlots.length} outputs, got ${outs.length} buffers`);
    const nc = m * n;
    for (const o of outs) {
      checkArray('outs[i]', o, nc, op);
      if (overlaps(o, nc, A, rows * m) || overlaps(o, nc, B, rows * n)) throw new RangeError(`${op}: outputs must not overlap A or B`);
    }
    if (nc === 0) return;
    begin();
    const pA = place(A, rows * m);
    const pB = place(B, rows * n);
    const pOuts = outs.map((o) => place(o, nc));
    let ops = fused.get(plan);
    if (ops === undefined) fused.set(plan, (ops = fusePlanOps(plan)));
    const pBounds = placeInts(bounds.length);
    const pOps = placeInts(ops.length);
    const pSlots = placeInts(plan.outSlots.length);
    const pPtrs = placeInts(outs.length);
    const S = cursor;
    ensure(S + ex.blocksScratchBytes(m, n, rows, plan.slots), `${op} ${m}×${n}, ${rows} rows`);
    copyIn(A, rows * m, pA);
    copyIn(B, rows * n, pB);
    const ints = new Int32Array(memory.buffer);
    ints.set(bounds, pBounds >> 2);
    ints.set(ops, pOps >> 2);
    ints.set(plan.outSlots, pSlots >> 2);
    ints.set(pOuts, pPtrs >> 2);
    ex.gemmTnBlocks(m, n, pA, pB, pBounds, nblocks, pOps, ops.length / 3, pPtrs, pSlots, outs.length, S);
    outs.forEach((o, i) => copyOut(o, nc, pOuts[i]!));
  }

  return {
    // Tile shape is not in the name: the bits do not depend on it (see gen-wat.ts).
    name: 'wasm-simd128',
    alloc,
    gemm,
    relu,
    reluBackwardColSums,
    axpy,
    gemmTnBlocks,
    memory,
    get allocatedBytes() {
      return top - ALIGN;
    },
    get capacityBytes() {
      return memory.buffer.byteLength;
    },
  };
}
