import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { ACTIVATIONS, LOSSES, paramLayout, validateSpec, type ModelSpec, type OptimizerConfig } from '@gradmesh/core';
import { KERNEL_CHOICES } from '@gradmesh/engine';
import { loadKernels } from '@gradmesh/engine/node';
import type { Dataset } from '@gradmesh/data';
import { modelSpecSchema } from '@gradmesh/protocol';
import { flag, intFrom, nonNegativeNumber, positiveNumber, type Options } from './flags.js';
import { UsageError } from './errors.js';

export const OPTIMIZERS = ['sgd', 'momentum', 'nesterov', 'adam', 'adamw'] as const;
export const SCHEDULES = ['constant', 'cosine', 'step'] as const;

/** Flags shared by `train` and `coordinator`: everything that defines the run. */
export const trainOptions: Options = {
  dataset: { type: 'string', valueName: 'NAME', help: 'mnist (default), xor, spirals, sine, synthetic:784x10[:N], csv:PATH' },
  label: { type: 'string', valueName: 'COLUMN', help: 'label column for csv: datasets' },
  model: { type: 'string', valueName: 'SIZES|FILE', help: 'hidden layer sizes like 128 or 512,512, or a JSON model spec file (default 128)' },
  activation: { type: 'string', valueName: 'NAME', help: `hidden activation: ${ACTIVATIONS.join('|')} (default relu)` },
  loss: { type: 'string', valueName: 'NAME', help: `${LOSSES.join('|')} (default: softmax_xent for classes, mse_mean for regression)` },
  optimizer: { type: 'string', valueName: 'NAME', help: `${OPTIMIZERS.join('|')} (default adam)` },
  lr: { type: 'string', valueName: 'RATE', help: 'learning rate (default 0.002 for adam/adamw, 0.05 otherwise)' },
  schedule: { type: 'string', valueName: 'NAME', help: `learning-rate schedule: ${SCHEDULES.join('|')} (default cosine)` },
  warmup: { type: 'string', valueName: 'STEPS', help: 'linear warm-up steps (default 0)' },
  'weight-decay': { type: 'string', valueName: 'W', help: 'weight decay (default 0)' },
  'clip-norm': { type: 'string', valueName: 'N', help: 'clip the mean gradient to this global norm' },
  batch: { type: 'string', valueName: 'N', help: 'global batch size (default 64)' },
  'micro-batch': { type: 'string', valueName: 'N', help: 'micro-batch size: the unit of work and of the deterministic reduction (default 32)' },
  epochs: { type: 'string', valueName: 'N', help: 'epochs to train (default 12)' },
  steps: { type: 'string', valueName: 'N', help: 'steps to train (overrides --epochs)' },
  seed: { type: 'string', valueName: 'N', help: 'seed for initialisation and data order (default 1)' },
  kernels: {
    type: 'string',
    valueName: 'SET',
    help: 'wasm (default: identical bits in every Node worker and browser) | native (AVX2/AVX-512, Node only) | js | auto (fastest that loads)',
  },
  save: { type: 'string', valueName: 'FILE', help: 'write the trained model here (atomically)' },
  'metrics-out': { type: 'string', valueName: 'FILE', help: 'write one JSON line per step and a final summary line' },
  json: { type: 'boolean', help: 'print the final summary as JSON on stdout' },
  quiet: { type: 'boolean', help: 'no progress output' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

export interface TrainConfig {
  dataset: string;
  label?: string;
  spec: ModelSpec;
  optimizer: OptimizerConfig;
  batch: number;
  microBatch: number;
  seed: number;
  steps: number;
  /** Kernel family every worker computes with (resolved from --kernels). */
  kernels: 'js' | 'wasm' | 'native';
}

type Values = Record<string, string | boolean | undefined>;

const str = (v: Values, k: string): string | undefined => (typeof v[k] === 'string' ? (v[k] as string) : undefined);

export function defaultThreads(): number {
  return availableParallelism();
}

/** The model spec from --model/--activation/--loss and the dataset's shape. */
export function buildSpec(v: Values, ds: Dataset): ModelSpec {
  const modelArg = str(v, 'model') ?? '128';
  let spec: ModelSpec;
  if (/^\d+(,\d+)*$/.test(modelArg) || modelArg === '0' || modelArg === '') {
    const hidden = modelArg === '' || modelArg === '0' ? [] : modelArg.split(',').map(Number);
    if (hidden.some((h) => h < 1 || h > 100_000)) throw new UsageError(`--model: hidden sizes must be between 1 and 100000, got ${modelArg}`);
    const activation = flag('activation', str(v, 'activation') ?? 'relu', z.enum(ACTIVATIONS), ACTIVATIONS.join('|'));
    const classification = ds.task === 'classification';
    const loss = flag('loss', str(v, 'loss') ?? (classification ? 'softmax_xent' : 'mse_mean'), z.enum(LOSSES), LOSSES.join('|'));
    const outAct = loss === 'softmax_xent' ? 'softmax' : loss === 'sigmoid_bce' ? 'sigmoid' : 'identity';
    spec = { inputs: ds.inputs, layers: [...hidden.map((units) => ({ units, activation })), { units: ds.outputs, activation: outAct }], loss };
  } else {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(modelArg, 'utf8'));
    } catch (err) {
      throw new UsageError(`--model: cannot read model spec ${modelArg}: ${(err as Error).message.split('\n')[0]}`);
    }
    const r = modelSpecSchema.safeParse(raw);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      throw new UsageError(`--model: ${modelArg}: ${issue.path.join('.') || 'spec'}: ${issue.message}`);
    }
    spec = r.data as ModelSpec;
  }
  if (spec.inputs !== ds.inputs) throw new UsageError(`--model: spec has ${spec.inputs} inputs but dataset ${ds.name} has ${ds.inputs}`);
  const outs = spec.layers[spec.layers.length - 1]!.units;
  if (outs !== ds.outputs) throw new UsageError(`--model: spec has ${outs} outputs but dataset ${ds.name} has ${ds.outputs}`);
  try {
    validateSpec(spec);
  } catch (err) {
    throw new UsageError(`--model: ${(err as Error).message}`);
  }
  return spec;
}

export function buildConfig(v: Values, ds: Dataset, stepsPerEpoch: (batch: number) => number): TrainConfig {
  const batch = flag('batch', str(v, 'batch') ?? '64', intFrom(1, 1 << 20), 'an integer from 1 to 1048576');
  if (batch > ds.train.n) throw new UsageError(`--batch: ${batch} is larger than the training set (${ds.train.n} samples)`);
  const microBatch = Math.min(batch, flag('micro-batch', str(v, 'micro-batch') ?? '32', intFrom(1, 1 << 20), 'an integer ≥ 1'));
  const seed = flag('seed', str(v, 'seed') ?? '1', intFrom(0, 2 ** 32 - 1), 'an integer from 0 to 4294967295');
  const kind = flag('optimizer', str(v, 'optimizer') ?? 'adam', z.enum(OPTIMIZERS), OPTIMIZERS.join('|'));
  const lr = flag('lr', str(v, 'lr') ?? (kind.startsWith('adam') ? '0.002' : '0.05'), positiveNumber, 'a positive number');
  const spe = stepsPerEpoch(batch);
  let steps: number;
  if (str(v, 'steps') !== undefined) steps = flag('steps', str(v, 'steps'), intFrom(1, 1e9), 'a positive integer');
  else steps = spe * flag('epochs', str(v, 'epochs') ?? '12', intFrom(1, 1e6), 'a positive integer');
  const scheduleKind = flag('schedule', str(v, 'schedule') ?? 'cosine', z.enum(SCHEDULES), SCHEDULES.join('|'));
  const warmupSteps = flag('warmup', str(v, 'warmup') ?? '0', intFrom(0, 1e9), 'a non-negative integer');
  const weightDecay = flag('weight-decay', str(v, 'weight-decay') ?? '0', nonNegativeNumber, 'a non-negative number');
  const clipRaw = str(v, 'clip-norm');
  const clipNorm = clipRaw === undefined ? undefined : flag('clip-norm', clipRaw, positiveNumber, 'a positive number');
  const schedule =
    scheduleKind === 'cosine'
      ? { kind: 'cosine' as const, totalSteps: steps, minLr: lr * 0.02 }
      : scheduleKind === 'step'
        ? { kind: 'step' as const, every: Math.max(1, Math.floor(steps / 3)), gamma: 0.3 }
        : { kind: 'constant' as const };
  const optimizer: OptimizerConfig = { kind, lr, schedule, warmupSteps, weightDecay, ...(clipNorm === undefined ? {} : { clipNorm }) };
  const choice = flag('kernels', str(v, 'kernels') ?? 'wasm', z.enum(KERNEL_CHOICES), KERNEL_CHOICES.join('|'));
  const spec = buildSpec(v, ds);
  let loaded;
  try {
    loaded = loadKernels(choice, paramLayout(spec).paramCount);
  } catch (err) {
    throw new UsageError(`--kernels: ${(err as Error).message}`);
  }
  const cfg: TrainConfig = { dataset: ds.name, spec, optimizer, batch, microBatch, seed, steps, kernels: loaded.family };
  if (loaded.note) process.stderr.write(`gradmesh: ${loaded.note}\n`);
  const label = str(v, 'label');
  if (label !== undefined) cfg.label = label;
  return cfg;
}
