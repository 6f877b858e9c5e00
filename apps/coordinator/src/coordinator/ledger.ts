import { appendFileSync, writeFileSync } from 'node:fs';

export interface LedgerEntry {
  step: number;
  taskId: number;
  worker: string;
  mbLo: number;
  mbHi: number;
  /** assigned → done | lost (worker left) | reassigned (missed the deadline) → late (its result came anyway, discarded) */
  status: 'assigned' | 'done' | 'lost' | 'reassigned' | 'late';
  samples?: number;
}

/**
 * Who computed which micro-batches of which step. Tests read it (in memory or
 * as JSON lines via --ledger-out) to check that every sample of every step was
 * counted exactly once.
 */
export class Ledger {
  readonly entries: LedgerEntry[] = [];

  constructor(
    private readonly file?: string,
    private readonly keep = 100_000,
  ) {
    if (file) writeFileSync(file, '');
  }

  record(e: LedgerEntry): void {
    this.entries.push(e);
    if (this.entries.length > this.keep) this.entries.splice(0, this.entries.length - this.keep);
    if (this.file) appendFileSync(this.file, `${JSON.stringify(e)}\n`);
  }
}
