import type { Table } from './format.js';

export interface Ctx {
  quick: boolean;
  /** Timed runs per figure (≥ 5 unless --quick). */
  runs: number;
  /** Target duration of one timed block. */
  blockMs: number;
  warmupMs: number;
  log(line: string): void;
  /** Prints a table now and keeps it for the JSON. */
  table(t: Table): void;
}

export interface SummaryRow {
  metric: string;
  value: string;
  target?: string;
  /**
   * met, missed, '' when there is no target, or contended: the figure could
   * not be measured fairly (e.g. a 2-thread pool that never got 2 cores).
   */
  status?: 'met' | 'missed' | 'contended' | '';
}

export interface SectionResult {
  summary: SummaryRow[];
  notes: string[];
  data: Record<string, unknown>;
}

export interface Section {
  name: string;
  title: string;
  run(ctx: Ctx): Promise<SectionResult>;
}

export function target(value: number, min: number): 'met' | 'missed' | '' {
  return Number.isFinite(value) ? (value >= min ? 'met' : 'missed') : '';
}
