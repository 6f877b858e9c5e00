import type { ModelSpec, OptimizerConfig } from '@gradmesh/core';

// The shapes the coordinator sends on /feed and serves at /api/status and
// /api/history, as this page reads them (JSON: NaN arrives as null).

export interface WorkerRow {
  id: string;
  name: string;
  kind: 'node' | 'browser';
  threads: number;
  samplesPerSec: number;
  share: number;
  samplesDone: number;
  stepsDone: number;
  lastSeenMsAgo: number;
  state: 'idle' | 'busy' | 'straggling';
}

export interface RunStatus {
  state: 'waiting' | 'training' | 'done' | 'stopped';
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number | null;
  testLoss: number | null;
  testAccuracy: number | null;
  samplesPerSec: number;
  elapsedSec: number;
  etaSec: number | null;
  workers: WorkerRow[];
}

export interface RunConfig {
  dataset: string;
  label?: string;
  spec: ModelSpec;
  optimizer: OptimizerConfig;
  batch: number;
  microBatch: number;
  seed: number;
  steps: number;
}

export interface StepReport {
  step: number;
  epoch: number;
  loss: number | null;
  samples: number;
  ms: number;
  computeMs: number;
  waitMs: number;
  commMs: number;
  workers: number;
  reassigned: number;
}

export interface DoneSummary {
  steps: number;
  trainLoss: number | null;
  testLoss: number | null;
  testAccuracy: number | null;
  seconds: number;
  paramsSha256: string;
}

export type FeedMessage =
  | { type: 'snapshot'; status: RunStatus; config: RunConfig }
  | { type: 'step'; report: StepReport; status: RunStatus }
  | { type: 'eval'; step: number; testLoss: number | null; testAccuracy: number | null }
  | { type: 'workers'; status: RunStatus }
  | { type: 'done'; summary: DoneSummary; status: RunStatus };

/** /api/history: what happened before this page connected, column by column. */
export interface RunHistory {
  steps: { step: number[]; loss: (number | null)[]; ms: number[]; computeMs: number[]; commMs: number[]; waitMs: number[]; samples: number[] };
  evals: { step: number[]; testLoss: (number | null)[]; testAccuracy: (number | null)[] };
}
