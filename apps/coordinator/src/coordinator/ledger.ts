import { appendFileSync, writeFileSync } from 'node:fs';

export interface LedgerEntry {
  step: number;
  taskId: number;
  worker: string;
  mbLo: number;
  mbHi: number;
  /**
   * assigned → done | lost (worker left or failed) | reassigned (missed the deadline) → late (its result came anyway,
   * discarded); done → rejected (robust aggregation dropped it as an outlier; its micro-batches are recomputed).
   */
  status: 'assigned' | 'done' | 'lost' | 'reassigned' | 'late' | 'rejected';
  samples?: number;
}

/**
 * Who computed which micro-batches of which step. Tests read it (in memory or
 * as JSON lines via --ledger-out) to check that every sample of every step was
 * counted exactly once.
 */
export class Ledger {
  // A ring of the last `keep` entries: O(1) per record however long the run.
  private readonly ring: LedgerEntry[] = [];
  private next = 0;

  constructor(
    private readonly file?: string,
    private readonly keep = 100_000,
  ) {
    if (file) writeFileSync(file, '');
  }

  record(e: LedgerEntry): void {
    if (this.ring.length < this.keep) this.ring.push(e);
    else this.ring[this.next] = e;
    this.next = (this.next + 1) % this.keep;
    if (this.file) appendFileSync(this.file, `${JSON.stringify(e)}\n`);
  }

  /** The retained entries, oldest first. */
  get entries(): LedgerEntry[] {
    return this.ring.length < this.keep ? this.ring.slice() : [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
  }
}
