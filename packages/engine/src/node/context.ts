import { createModel, paramLayout, type Kernels, type Model, type ModelSpec } from '@gradmesh/core';
import type { KernelChoice } from '../kernels.js';
import { loadKernels } from './kernels.js';
import { decodeDatasetBinary, type Dataset } from '@gradmesh/data';
import { loadDataset } from '@gradmesh/data/node';
import type { Rows } from '../shard-engine.js';

/** Everything a thread or process needs to compute gradients, as plain data it can be sent. */
export interface ContextSpec {
  dataset: string;
  label?: string;
  /** The dataset as GMDS bytes (downloaded once from the coordinator), shared by all threads. */
  datasetBytes?: SharedArrayBuffer;
  spec: ModelSpec;
  /** Kernel family (default wasm). */
  kernels?: KernelChoice;
}

export interface ComputeContext {
  model: Model;
  /** The kernel family that loaded (wasm works in its own memory; js and native on any Float32Array). */
  family: 'js' | 'wasm' | 'native';
  kernels: Kernels;
  dataset: Dataset;
  data: Rows;
}

export async function buildContext(c: ContextSpec): Promise<ComputeContext> {
  const dataset = c.datasetBytes
    ? decodeDatasetBinary(new Uint8Array(c.datasetBytes))
    : await loadDataset(c.dataset, c.label === undefined ? {} : { label: c.label });
  const paramCount = paramLayout(c.spec).paramCount;
  const { kernels, family } = loadKernels(c.kernels ?? 'wasm', paramCount);
  const model = createModel(c.spec, kernels);
  if (model.inputs !== dataset.inputs || model.outputs !== dataset.outputs) {
    throw new Error(`model ${model.inputs}→${model.outputs} does not fit dataset ${dataset.name} (${dataset.inputs}→${dataset.outputs})`);
  }
  return { model, family, kernels, dataset, data: dataset.train };
}
