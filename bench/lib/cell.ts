/**
 * A measured thing running in its own process (a "cell"): gradmesh with one
 * kernel set, TensorFlow.js on one backend, a thread pool… Each cell gets a
 * fresh process so JIT state, heaps, WASM memories and thread pools never mix;
 * the parent drives all cells of a comparison round-robin, one at a time, so
 * every implementation sees the same machine load (this machine is shared and
 * noisy: interleaving is what makes the ratios trustworthy).
 */

/** What a cell module's factory returns. */
export interface Cell {
  /** Shown in the report (backend detail, kernel name…). */
  info?: Record<string, unknown>;
  /** Untimed: get ready to run `steps` steps per block (allocate, build tensors). */
  prepare?(steps: number): Promise<void> | void;
  /** Runs `steps` steps. Returns its own timing when it must leave work out (evaluation). */
  block(steps: number): Promise<BlockResult | void> | BlockResult | void;
  close?(): Promise<void> | void;
}

export interface BlockResult {
  ms?: number;
  /** CPU time over wall time, when the work ran outside the cell's process (a browser). */
  cpuShare?: number;
  extra?: Record<string, unknown>;
}

export type CellFactory = (args: any) => Promise<Cell> | Cell;

export type HostRequest =
  | { cmd: 'setup'; module: string; factory: string; args: unknown }
  | { cmd: 'prepare'; steps: number }
  | { cmd: 'block'; steps: number }
  | { cmd: 'close' };

export type HostReply = { ok: true; ms?: number; cpuShare?: number; info?: Record<string, unknown>; extra?: Record<string, unknown> } | { ok: false; error: string };
