import type { ClientStatus } from '@gradmesh/client';

/** Page → worker. */
export type ToWorker =
  | { type: 'start'; url: string; token: string; name: string }
  | { type: 'stop'; reason: string };

/** What the page shows about the run it contributes to. */
export interface RunSummary {
  runId: string;
  dataset: string;
  paramCount: number;
  batch: number;
  microBatch: number;
  datasetBytes: number;
  datasetMs: number;
}

/** Worker → page. */
export type FromWorker =
  | { type: 'status'; status: ClientStatus }
  | { type: 'run'; run: RunSummary }
  | { type: 'log'; line: string }
  | { type: 'ended'; how: 'done' | 'stopped' | 'failed'; reason: string };
