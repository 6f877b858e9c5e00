/**
 * The coordinator's own cost per step, without networks or computation: the
 * real Coordinator class driven by in-process simulated workers that answer
 * every task at once with a gradient of the right shape. Each simulated
 * handle does what CoordinatorServer does per message — encode() every
 * outgoing message, decodeClientMessage() every incoming frame — so a step
 * costs what the server's CPU would spend, minus socket I/O. The workers' own
 * encoding of their gradients is timed and subtracted.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { jsKernels, Optimizer } from '@gradmesh/core';
import { batchIndices } from '@gradmesh/data';
import { addInto, coverRanges, microBatchCount, samplesIn } from '@gradmesh/engine';
import { nodeAdd, nodeAllFinite, updateKernels } from '@gradmesh/engine/node';
import { decodeClientMessage, encode, isFiniteArray, PROTOCOL_VERSION, type GradientMessage, type RunInfo, type ServerMessage, type TaskMessage } from '@gradmesh/protocol';
import { Coordinator, type WorkerHandle } from '../../apps/coordinator/src/coordinator/coordinator.js';
import { Ledger } from '../../apps/coordinator/src/coordinator/ledger.js';
import type { Cell } from '../lib/cell.js';
import { REPO } from '../lib/paths.js';
import { cpuMs, median, repsFor, timeBlocksCpu } from '../lib/stats.js';

export interface SimPoint {
  params: number;
  workers: number;
  /** Coordinator CPU per step, ms (median over blocks). */
  ms: number;
  blocks: number[];
  stepsPerBlock: number;
  /** Bytes the server would put on the wire per step (payloads as encoded, before WebSocket framing). */
  bytesOut: number;
  bytesIn: number;
}

interface SimOptions {
  params: number;
  workers: number;
  batch: number;
  microBatch: number;
  runs: number;
  blockMs: number;
}

/** One (parameter count, worker count) point. */
export async function simulate(o: SimOptions): Promise<SimPoint> {
  const P = o.params;
  const M = microBatchCount(o.batch, o.microBatch);
  const run: RunInfo = { runId: 'bench', dataset: 'synthetic', datasetUrl: null, spec: {}, paramCount: P, batch: o.batch, microBatch: o.microBatch, seed: 1 };
  const params = new Float32Array(P);
  const n = o.batch * 64;
  const coord = new Coordinator({
    run,
    params,
    optimizer: new Optimizer({ kind: 'sgd', lr: 1e-3 }, P, updateKernels(jsKernels)),
    plan: (t) => batchIndices(n, o.batch, 1, t),
    startStep: 0,
    totalSteps: Number.MAX_SAFE_INTEGER,
    minWorkers: o.workers,
    deadlineFloorMs: 1e9,
    // Unbounded, so every point measures the same thing: the default ledger
    // trims itself once it holds 100,000 entries, and that trimming has its
    // own cost (measured separately by ledgerAtCap).
    ledger: new Ledger(undefined, Number.MAX_SAFE_INTEGER),
  });
  let clientMs = 0;
  let bytesOut = 0;
  let bytesIn = 0;
  for (let w = 0; w < o.workers; w++) {
    let grad = new Float32Array(0);
    let id = '';
    const answer = (t: TaskMessage): void => {
      const cover = coverRanges(M, t.mbLo, t.mbHi);
      const nodes = new Uint32Array(cover.flat());
      if (grad.length < cover.length * P) grad = new Float32Array(cover.length * P).fill(1e-4);
      // Wall clock for the workers' own encoding (a short single-threaded call; cpuUsage per message would cost more than it measures).
      const t0 = performance.now();
      const frame = encode({
        type: 'gradient',
        step: t.step,
        taskId: t.taskId,
        samples: samplesIn(t.batch, o.microBatch, t.mbLo, t.mbHi),
        // Equally fast workers: time in proportion to samples (a constant made a larger share look faster, and shares drift apart).
        computeMs: samplesIn(t.batch, o.microBatch, t.mbLo, t.mbHi) / 100,
        nodes,
        losses: new Float64Array(cover.length).fill(1),
        grad: grad.subarray(0, cover.length * P),
      } satisfies GradientMessage);
      clientMs += performance.now() - t0;
      bytesIn += frame.byteLength;
      const r = decodeClientMessage(frame);
      if (!r.ok || r.msg.type !== 'gradient') throw new Error(`simulated gradient refused: ${r.ok ? r.msg.type : r.message}`);
      const code = coord.gradient(id, r.msg);
      if (code) throw new Error(`coordinator refused a simulated gradient: ${code}`);
    };
    // As CoordinatorServer's handle: send encodes, and the step's parameter frame is encoded once
    // for every worker (sendEncoded) into a buffer reused once written out (queued: written at once here).
    const handle: WorkerHandle = {
      send(msg: ServerMessage) {
        bytesOut += encode(msg).byteLength;
        if (msg.type === 'task') queueMicrotask(() => answer(msg));
      },
      sendEncoded(bytes: Uint8Array) {
        bytesOut += bytes.byteLength;
      },
      queued: () => 0,
      close() {},
    };
    id = coord.join(handle, { type: 'hello', protocol: PROTOCOL_VERSION, name: `sim-${w}`, kind: 'node', threads: 1 }).id;
  }

  let steps = 0;
  let stepsPerBlock = 1; // calibration block (its step also pays for first-use costs)
  let phase: 'calibrate' | 'warm' | 'timed' = 'calibrate';
  // CPU time, not wall time: the figure is the coordinator's CPU cost per step,
  // and CPU time stays meaningful while other work shares the machine.
  let blockStart = cpuMs();
  let blockClient = 0;
  let blockOut = 0;
  let blockIn = 0;
  const blocks: number[] = [];
  const outs: number[] = [];
  const ins: number[] = [];
  await coord.run(() => {
    steps++;
    if (steps < stepsPerBlock) return;
    const ms = (cpuMs() - blockStart - (clientMs - blockClient)) / steps;
    if (phase !== 'timed') {
      // Size blocks from the calibration step, then again from the warm-up block (past first-use costs).
      stepsPerBlock = Math.max(1, Math.round(o.blockMs / Math.max(ms, 1e-3)));
      phase = phase === 'calibrate' ? 'warm' : 'timed';
    } else {
      blocks.push(ms);
      outs.push((bytesOut - blockOut) / steps);
      ins.push((bytesIn - blockIn) / steps);
      if (blocks.length >= o.runs) coord.stop();
    }
    steps = 0;
    blockStart = cpuMs();
    blockClient = clientMs;
    blockOut = bytesOut;
    blockIn = bytesIn;
  });
  return { params: P, workers: o.workers, ms: median(blocks), blocks, stepsPerBlock, bytesOut: median(outs), bytesIn: median(ins) };
}

/** The scaling grid, plus the parts of one 2-worker step of a given model, as a cell. */
export async function simCell(args: { params: number[]; workers: number[]; batch: number; microBatch: number; runs: number; blockMs: number; partsParams: number }): Promise<Cell> {
  return {
    async block() {
      const points: SimPoint[] = [];
      // A throwaway pass first: the process's first steps also compile the coordinator's code
      // (a first xor-sized point read 365 µs per step and 130 µs once warm, above the 10k point).
      for (const k of args.workers) await simulate({ params: args.params[0]!, workers: k, batch: args.batch, microBatch: args.microBatch, runs: 1, blockMs: args.blockMs });
      for (const P of args.params) {
        for (const k of args.workers) {
          points.push(await simulate({ params: P, workers: k, batch: args.batch, microBatch: args.microBatch, runs: args.runs, blockMs: args.blockMs }));
          (globalThis as { gc?: () => void }).gc?.();
        }
      }
      return { extra: { points, parts: stepParts(args.partsParams, args.runs, args.blockMs), ledgerRecordUs: ledgerAtCap(args.runs) } };
    },
  };
}

/**
 * µs per Ledger.record() while the default ledger fills and once it is full
 * (100,000 entries; a ring, so the oldest entry is overwritten in O(1)).
 * A step records 2 entries per worker (assigned, done).
 */
function ledgerAtCap(runs: number): { full: number; empty: number } {
  const e = { step: 1, taskId: 1, worker: 'w1', mbLo: 0, mbHi: 1, status: 'done' as const };
  const full = new Ledger();
  for (let i = 0; i < 100_000; i++) full.record(e);
  const fresh = new Ledger(undefined, Number.MAX_SAFE_INTEGER);
  return {
    full: median(timeBlocksCpu(() => full.record(e), 2000, runs)) * 1000,
    empty: median(timeBlocksCpu(() => fresh.record(e), 2000, runs)) * 1000,
  };
}

/**
 * The parts of the coordinator's work per step for 2 workers on a model of P
 * parameters, each timed alone (µs): per gradient frame decode + validation
 * and the NaN scan, one in-place addition (2 gradients → 1), the SGD update,
 * and encoding the new parameters once per worker; plus what WebSocket
 * masking costs each side, since ws masks client frames in JavaScript unless
 * bufferutil is installed (Node 20 has no http.websocketMask).
 */
function stepParts(P: number, runs: number, blockMs: number): Array<{ part: string; us: number; perStep: number; group: 'reduce' | 'update' | 'wire' }> {
  const us = (fn: () => void): number => median(timeBlocksCpu(fn, repsFor(fn, blockMs), runs)) * 1000;
  const grad = new Float32Array(P).fill(1e-4);
  const frame = encode({ type: 'gradient', step: 1, taskId: 1, samples: 128, computeMs: 1, nodes: new Uint32Array([0, 4]), losses: new Float64Array([1]), grad });
  const params = new Float32Array(P).fill(0.5);
  const acc = new Float32Array(P);
  // As the coordinator builds it: the fastest axpy for the update.
  const opt = new Optimizer({ kind: 'sgd', lr: 1e-3 }, P, updateKernels(jsKernels));
  // What the coordinator's TreeAccumulator adds with (native axpy when the addon loads; the same bits as addInto).
  const add = nodeAdd();
  const allFinite = nodeAllFinite(isFiniteArray);
  const addName = add === addInto ? 'JS loop' : 'native SIMD axpy';
  const decoded = decodeClientMessage(frame);
  const aligned = decoded.ok && decoded.msg.type === 'gradient' && decoded.msg.grad?.buffer === frame.buffer;
  const parts: Array<{ part: string; us: number; perStep: number; group: 'reduce' | 'update' | 'wire' }> = [
    { part: `decode + validate one gradient frame (msgpackr + zod${aligned ? '' : '; payload unaligned, so copied'})`, us: us(() => decodeClientMessage(frame)), perStep: 2, group: 'reduce' },
    { part: `NaN/Inf scan of one gradient (the coordinator's: ${allFinite === isFiniteArray ? 'JS loop' : 'native SIMD'})`, us: us(() => allFinite(grad)), perStep: 2, group: 'reduce' },
    { part: `add the 2nd gradient into the 1st (the coordinator's add: ${addName})`, us: us(() => add(acc, grad)), perStep: 1, group: 'reduce' },
    { part: 'SGD update (Optimizer.apply)', us: us(() => opt.apply(params, grad, 256)), perStep: 1, group: 'update' },
    { part: 'encode the params message (once per step: every worker gets the same frame)', us: us(() => encode({ type: 'params', version: 1, params })), perStep: 1, group: 'update' },
  ];
  const ws = wsBufferUtil();
  if (ws) {
    const mask = Buffer.from([1, 2, 3, 4]);
    const src = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
    const out = Buffer.allocUnsafe(src.length);
    parts.push({ part: `ws: unmask one gradient frame on the coordinator (${ws.native ? 'native' : 'JavaScript'})`, us: us(() => ws.unmask(out, mask)), perStep: 2, group: 'wire' });
    parts.push({ part: `ws: mask one gradient frame in the worker (${ws.native ? 'native' : 'JavaScript'}; worker side, not coordinator)`, us: us(() => ws.mask(src, mask, out, 0, src.length)), perStep: 0, group: 'wire' });
  }
  return parts;
}

/** ws's own masking functions (what the worker and coordinator really run), by file: ws does not export them. */
function wsBufferUtil(): { mask: (s: Buffer, m: Buffer, o: Buffer, off: number, len: number) => void; unmask: (b: Buffer, m: Buffer) => void; native: boolean } | null {
  try {
    const req = createRequire(join(REPO, 'apps', 'worker', 'package.json'));
    const dir = dirname(req.resolve('ws/package.json'));
    const util = req(join(dir, 'lib', 'buffer-util.js'));
    const native = Boolean((req('node:http') as { websocketMask?: unknown }).websocketMask) || canLoad(req, 'bufferutil');
    return { mask: util.mask, unmask: util.unmask, native };
  } catch {
    return null;
  }
}

function canLoad(req: NodeRequire, name: string): boolean {
  try {
    req(name);
    return true;
  } catch {
    return false;
  }
}
