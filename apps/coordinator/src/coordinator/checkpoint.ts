import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeModel, encodeModel, type ModelSpec, type OptimizerConfig } from '@gradmesh/core';
import { writeFileAtomic } from '../files.js';
import type { TrainConfig } from '../train-options.js';

export const CHECKPOINT_FILE = 'checkpoint.gmsh';

export interface Checkpoint {
  runId: string;
  /** Steps completed: the data cursor (the data order is a function of seed and step). */
  step: number;
  config: TrainConfig;
  spec: ModelSpec;
  params: Float32Array;
  optimizer: { config: OptimizerConfig; state: Float32Array; t: number };
}

/**
 * Written atomically (temporary file, fsync, rename): a crash at any point
 * leaves the previous checkpoint or the new one. The format carries a CRC32,
 * so a truncated or corrupted file is refused, never loaded.
 */
// Test hook: GRADMESH_FAULT_KILL_IN_CHECKPOINT=N kills this process with SIGKILL half-way through writing its N-th checkpoint.
const killInCheckpoint = Number(process.env.GRADMESH_FAULT_KILL_IN_CHECKPOINT ?? 0);
let saves = 0;

export function saveCheckpoint(dir: string, c: Checkpoint): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, CHECKPOINT_FILE);
  const bytes = encodeModel({
    spec: c.spec,
    params: c.params,
    optimizer: c.optimizer,
    meta: { kind: 'gradmesh-checkpoint', runId: c.runId, step: c.step, config: c.config },
  });
  saves++;
  writeFileAtomic(path, bytes, saves === killInCheckpoint ? () => process.kill(process.pid, 'SIGKILL') : undefined);
  return path;
}

export function loadCheckpoint(dir: string): Checkpoint {
  const path = join(dir, CHECKPOINT_FILE);
  if (!existsSync(path)) throw new Error(`--resume: no checkpoint at ${path}`);
  let saved;
  try {
    saved = decodeModel(new Uint8Array(readFileSync(path)));
  } catch (err) {
    throw new Error(`--resume: ${path} is damaged and was not loaded (${(err as Error).message}); delete it to start over`);
  }
  const meta = saved.meta as { kind?: string; runId?: string; step?: number; config?: TrainConfig } | undefined;
  if (!meta || meta.kind !== 'gradmesh-checkpoint' || typeof meta.step !== 'number' || !meta.config || !meta.runId || !saved.optimizer) {
    throw new Error(`--resume: ${path} is not a gradmesh checkpoint`);
  }
  return {
    runId: meta.runId,
    step: meta.step,
    config: meta.config,
    spec: saved.spec,
    params: saved.params,
    optimizer: { config: saved.optimizer.config, state: saved.optimizer.state, t: saved.optimizer.t },
  };
}
