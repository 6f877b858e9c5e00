/**
 * The PoolEngine's shared-memory protocol with its threads: one lane per
 * pool thread, a few control words driven with Atomics. Posting a command
 * costs a store and a notify (a thread that is still spinning sees it at
 * once, one asleep in Atomics.wait within ~20 µs) instead of a piscina task's
 * message round trip through both event loops (~100 µs here, and the thread
 * starts its shard 0.2–0.5 ms after the caller).
 *
 * A lane is one SharedArrayBuffer:
 *   ctrl    Int32[CTRL_INTS]  the words below
 *   nodes   Int32[3·maxNodes] (lo, hi, buffer id) per tree node
 *   losses  Float64[maxNodes] each node's loss sum
 *   err     Uint8[ERR_BYTES]  a failed command's message (UTF-8)
 *   indices Uint32[cap]       a compute command's sample indices
 * Gradient buffers are SharedArrayBuffers known by id (the owning thread's
 * threadId · 2^20 + a counter); each is sent once over the lane's
 * MessagePort and read there synchronously (receiveMessageOnPort), so a step
 * passes ids, never buffers.
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { reduceNodes, type AddFn, type TreeNode } from '../tree.js';

/** Control words. The caller writes a command's fields, then SEQ (+ notify); the thread answers with ACK = SEQ. */
export const SEQ = 0;
export const CMD = 1;
export const ACK = 2;
/** 0: done; 1: failed (message in err, length in ERRLEN). */
export const STATUS = 3;
export const STEP = 4;
export const BATCH = 5;
export const MICRO = 6;
export const MBLO = 7;
export const MBHI = 8;
export const NIDX = 9;
export const NNODES = 10;
/** A finish command's element range [FLO, FHI). */
export const FLO = 11;
export const FHI = 12;
/** 1: a finish command also applies the optimizer (version OPT_VERSION, at its step OPT_T) over a batch of UB samples. */
export const UPDATE = 13;
export const OPT_T = 14;
export const UB = 15;
export const OPT_VERSION = 16;
export const ERRLEN = 17;
/** How long the thread's last compute command took, µs (its speed, for the next step's split). */
export const COMPUTE_US = 18;
export const CTRL_INTS = 32;

export const CMD_COMPUTE = 1;
export const CMD_FINISH = 2;
export const CMD_STOP = 3;

const ERR_BYTES = 2048;
/** Elements per pass of a finish (256 KB a buffer): the update reads each merged chunk while it is still in L2. 16384 measured slower (more passes through reduceNodes: a half merge 0.44–0.58 ms vs 0.32–0.35 in situ). */
export const FINISH_CHUNK = 65536;

export interface Lane {
  sab: SharedArrayBuffer;
  ctrl: Int32Array;
  nodes: Int32Array;
  losses: Float64Array;
  err: Uint8Array;
  indices: Uint32Array;
  maxNodes: number;
}

/** What a lane needs to be rebuilt from its buffer in another thread. */
export interface LaneShape {
  maxNodes: number;
  indicesCap: number;
}

export function newLane(shape: LaneShape): Lane {
  const bytes = CTRL_INTS * 4 + 12 * shape.maxNodes + 8 * shape.maxNodes + ERR_BYTES + 4 * shape.indicesCap + 8;
  return laneOf(new SharedArrayBuffer(bytes), shape);
}

export function laneOf(sab: SharedArrayBuffer, { maxNodes, indicesCap }: LaneShape): Lane {
  let at = 0;
  const take = (bytes: number, align: number): number => {
    at = Math.ceil(at / align) * align;
    const o = at;
    at += bytes;
    return o;
  };
  const ctrl = new Int32Array(sab, take(CTRL_INTS * 4, 4), CTRL_INTS);
  const nodes = new Int32Array(sab, take(12 * maxNodes, 4), 3 * maxNodes);
  const losses = new Float64Array(sab, take(8 * maxNodes, 8), maxNodes);
  const err = new Uint8Array(sab, take(ERR_BYTES, 1), ERR_BYTES);
  const indices = new Uint32Array(sab, take(4 * indicesCap, 4), indicesCap);
  return { sab, ctrl, nodes, losses, err, indices, maxNodes };
}

/** A node whose gradient buffer is known by id. */
export interface SharedNode {
  lo: number;
  hi: number;
  loss: number;
  id: number;
}

export function writeNodes(lane: Lane, nodes: SharedNode[]): void {
  if (nodes.length > lane.maxNodes) throw new Error(`${nodes.length} tree nodes do not fit a lane of ${lane.maxNodes}`);
  nodes.forEach((n, j) => {
    lane.nodes[3 * j] = n.lo;
    lane.nodes[3 * j + 1] = n.hi;
    lane.nodes[3 * j + 2] = n.id;
    lane.losses[j] = n.loss;
  });
  lane.ctrl[NNODES] = nodes.length;
}

export function readNodes(lane: Lane): SharedNode[] {
  const out: SharedNode[] = [];
  for (let j = 0; j < lane.ctrl[NNODES]!; j++) {
    out.push({ lo: lane.nodes[3 * j]!, hi: lane.nodes[3 * j + 1]!, id: lane.nodes[3 * j + 2]!, loss: lane.losses[j]! });
  }
  return out;
}

export function writeError(lane: Lane, err: unknown): void {
  const msg = err instanceof Error ? err.message : String(err);
  const { written } = new TextEncoder().encodeInto(msg.slice(0, ERR_BYTES / 4), lane.err);
  lane.ctrl[ERRLEN] = written;
  lane.ctrl[STATUS] = 1;
}

export function readError(lane: Lane): string {
  return new TextDecoder().decode(lane.err.slice(0, lane.ctrl[ERRLEN]!));
}

/** Marks a command done and wakes whoever waits for it. */
export function acknowledge(ctrl: Int32Array, seq: number): void {
  Atomics.store(ctrl, ACK, seq);
  Atomics.notify(ctrl, ACK);
}

/** Posts the command whose fields are written: SEQ moves on and the thread wakes. */
export function post(ctrl: Int32Array, cmd: number): number {
  ctrl[CMD] = cmd;
  ctrl[STATUS] = 0;
  const seq = (ctrl[SEQ]! + 1) | 0;
  Atomics.store(ctrl, SEQ, seq);
  Atomics.notify(ctrl, SEQ);
  return seq;
}

/**
 * Resolves once ctrl[i] is no longer `old`, with its value: spinning for up
 * to spinMs (a command due any moment is seen without a wake-up), then
 * asleep in Atomics.waitAsync — which hands the thread back to its event
 * loop, where V8's own tasks (incremental marking, the GC's finalization)
 * run. A thread blocked in Atomics.wait for good starves them: JS kernels
 * ran ~5 % slower that way.
 */
export async function waitChange(ctrl: Int32Array, i: number, old: number, spinMs: number): Promise<number> {
  const until = performance.now() + spinMs;
  for (;;) {
    const v = Atomics.load(ctrl, i);
    if (v !== old) return v;
    if (performance.now() >= until) {
      const w = Atomics.waitAsync(ctrl, i, old);
      if (w.async) await w.value;
    }
  }
}

/** Buffers by id, filled from MessagePort messages { id, sab } as they are needed. */
export class BufferRegistry {
  readonly byId = new Map<number, Float32Array>();
  /** Every buffer in the order it became known (what has not been forwarded yet is a suffix). */
  readonly order: Array<{ id: number; sab: SharedArrayBuffer }> = [];

  constructor(private readonly floats: number) {}

  add(id: number, sab: SharedArrayBuffer): Float32Array {
    let a = this.byId.get(id);
    if (!a) {
      a = new Float32Array(sab, 0, this.floats);
      this.byId.set(id, a);
      this.order.push({ id, sab });
    }
    return a;
  }

  /**
   * The buffer with this id, reading `port` for it if it is not known yet
   * (other messages go to `other`). It was posted before the command that
   * names it, so it is there; the wait only guards against a broken peer.
   */
  get(id: number, port: MessagePort, other: (msg: unknown) => void = () => {}): Float32Array {
    const until = performance.now() + 5000;
    for (;;) {
      const a = this.byId.get(id);
      if (a) return a;
      if (!this.receive(port, other) && performance.now() > until) throw new Error(`gradient buffer ${id} never arrived`);
    }
  }

  /** Reads every message waiting on `port`. */
  drain(port: MessagePort, other: (msg: unknown) => void = () => {}): void {
    while (this.receive(port, other));
  }

  private receive(port: MessagePort, other: (msg: unknown) => void): boolean {
    const got = receiveMessageOnPort(port);
    if (got === undefined) return false;
    const msg = got.message as { id?: unknown; sab?: unknown };
    if (typeof msg.id === 'number' && msg.sab instanceof SharedArrayBuffer) this.add(msg.id, msg.sab);
    else other(got.message);
    return true;
  }
}

/**
 * The end of a step over elements [lo, hi): the nodes (tiling [a, b) of a
 * tree over m micro-batches, every gradient full length) are reduced into
 * the canonical cover of [a, b), chunk by chunk, and `update` (if given; a
 * whole-batch task, so the cover is one root) runs on each merged chunk
 * while it is still in cache. Every element's additions are the tree's, so
 * any split of [0, P) over any threads gives the bits of one reduction over
 * all of it. The merged values land in the buffer of the node that starts
 * each cover node (left children accumulate in place).
 */
export function finishRange(
  m: number, a: number, b: number, nodes: TreeNode[], lo: number, hi: number, add: AddFn,
  update?: (root: Float32Array, lo: number, hi: number) => void,
): void {
  const root = update ? nodes.find((n) => n.lo === a)!.grad : undefined;
  for (let c0 = lo; c0 < hi; c0 += FINISH_CHUNK) {
    const c1 = Math.min(hi, c0 + FINISH_CHUNK);
    if (nodes.length > 1) reduceNodes(m, a, b, nodes.map((n) => ({ lo: n.lo, hi: n.hi, loss: n.loss, grad: n.grad.subarray(c0, c1) })), add);
    if (update) update(root!, c0, c1);
  }
}

/** The cover of [a, b) with its losses, each node's gradient the buffer its values land in (see finishRange). */
export function coverOf(m: number, a: number, b: number, nodes: TreeNode[]): TreeNode[] {
  const empty = new Float32Array(0);
  return reduceNodes(m, a, b, nodes.map((n) => ({ lo: n.lo, hi: n.hi, loss: n.loss, grad: empty })), () => {}).map((c) => ({
    ...c,
    grad: nodes.find((n) => n.lo === c.lo)!.grad,
  }));
}
