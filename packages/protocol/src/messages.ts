import { z } from 'zod';
import { ERROR_CODES, ERRORS, errorText, type ErrorCode } from './errors.js';
import { counter, intIn, name, numberIn, text, typedArray } from './fields.js';
import { MAX_BATCH, MAX_GRAD, MAX_MS, MAX_NODES, MAX_PARAMS, MAX_SPEED, MAX_TEXT, MAX_THREADS, MAX_URL } from './limits.js';

// Every message is a strict object with a `type` discriminator: unknown fields
// are refused, not ignored, so a peer's typo or a newer peer fails loudly.

export const WORKER_KINDS = ['node', 'browser'] as const;

// ---- both directions ----------------------------------------------------

/**
 * Coordinator → client mostly; a client also sends it (TASK_FAILED) when its
 * engine throws. `taskId` names the task it is about, when there is one.
 */
export const errorSchema = z.strictObject({
  type: z.literal('error'),
  code: z.enum(ERROR_CODES),
  message: text,
  fatal: z.boolean(),
  taskId: counter.optional(),
});

// ---- client → coordinator -----------------------------------------------

/** Must be the first message. `protocol` is any integer so a mismatch is reported as one. */
export const helloSchema = z.strictObject({
  type: z.literal('hello'),
  protocol: intIn(0, 65_535),
  name,
  kind: z.enum(WORKER_KINDS),
  threads: intIn(1, MAX_THREADS),
  /** Samples per second this worker expects to compute. */
  speed: numberIn(0, MAX_SPEED).optional(),
});

/**
 * Gradient sums for the canonical reduction-tree nodes covering the task's
 * micro-batch range: `nodes` holds (lo, hi) pairs, `losses` one loss sum per
 * node, `grad` one paramCount-long block per node, in the same order. The
 * schema checks the shapes agree; the coordinator checks them against the
 * run (WRONG_LENGTH) and for NaN (NON_FINITE).
 */
export const gradientSchema = z
  .strictObject({
    type: z.literal('gradient'),
    step: counter,
    taskId: counter,
    samples: intIn(0, MAX_BATCH),
    computeMs: numberIn(0, MAX_MS),
    nodes: typedArray<Uint32Array>(Uint32Array, 2 * MAX_NODES),
    losses: typedArray<Float64Array>(Float64Array, MAX_NODES),
    grad: typedArray<Float32Array>(Float32Array, MAX_GRAD),
  })
  .check((ctx) => {
    const { nodes, losses, grad } = ctx.value;
    const issue = (field: string, message: string) =>
      ctx.issues.push({ code: 'custom', input: ctx.value, path: [field], message });
    if (nodes.length === 0 || nodes.length % 2 !== 0) {
      issue('nodes', `expected a non-empty list of (lo, hi) pairs, got ${nodes.length} numbers`);
      return;
    }
    const count = nodes.length / 2;
    if (losses.length !== count) issue('losses', `expected ${count} (one per node), got ${losses.length}`);
    if (grad.length % count !== 0) issue('grad', `length ${grad.length} is not a multiple of the ${count} nodes`);
  });

export const leaveSchema = z.strictObject({
  type: z.literal('leave'),
  reason: text.optional(),
});

export const clientMessageSchema = z.discriminatedUnion('type', [helloSchema, gradientSchema, leaveSchema, errorSchema]);

// ---- coordinator → client -----------------------------------------------

export const runInfoSchema = z
  .strictObject({
    runId: name,
    dataset: name,
    /** Where to fetch the dataset over HTTP; null when the worker loads it by name. */
    datasetUrl: z.string().max(MAX_URL).nullable(),
    /** A model spec; the receiver validates it with modelSpecSchema. */
    spec: z.record(z.string(), z.unknown()),
    paramCount: intIn(1, MAX_PARAMS),
    batch: intIn(1, MAX_BATCH),
    microBatch: intIn(1, MAX_BATCH),
    seed: counter,
    kernels: name.optional(),
  })
  .check((ctx) => {
    if (ctx.value.microBatch > ctx.value.batch) {
      ctx.issues.push({ code: 'custom', input: ctx.value, path: ['microBatch'], message: 'exceeds batch' });
    }
  });

export const welcomeSchema = z.strictObject({
  type: z.literal('welcome'),
  workerId: name,
  run: runInfoSchema,
});

export const paramsSchema = z.strictObject({
  type: z.literal('params'),
  version: counter,
  params: typedArray<Float32Array>(Float32Array, MAX_PARAMS),
});

/**
 * Compute micro-batches mbLo..mbHi of `step` with parameters `paramsVersion`.
 * `indices` are the dataset indices of those samples, in batch order.
 */
export const taskSchema = z
  .strictObject({
    type: z.literal('task'),
    step: counter,
    taskId: counter,
    paramsVersion: counter,
    /** Samples in the step's global batch: fixes M, the micro-batch count the reduction tree is built over. */
    batch: intIn(1, MAX_BATCH),
    mbLo: intIn(0, MAX_BATCH),
    mbHi: intIn(0, MAX_BATCH),
    indices: typedArray<Uint32Array>(Uint32Array, MAX_BATCH),
  })
  .check((ctx) => {
    if (ctx.value.mbHi < ctx.value.mbLo) {
      ctx.issues.push({ code: 'custom', input: ctx.value, path: ['mbHi'], message: 'is below mbLo' });
    }
  });

export const doneSchema = z.strictObject({
  type: z.literal('done'),
  reason: text,
});

export const serverMessageSchema = z.discriminatedUnion('type', [
  welcomeSchema,
  paramsSchema,
  taskSchema,
  doneSchema,
  errorSchema,
]);

/** Every message, either direction: for tools and relays that see both. */
export const messageSchema = z.discriminatedUnion('type', [
  helloSchema,
  gradientSchema,
  leaveSchema,
  welcomeSchema,
  paramsSchema,
  taskSchema,
  doneSchema,
  errorSchema,
]);

// ---- types ---------------------------------------------------------------

export type HelloMessage = z.output<typeof helloSchema>;
export type GradientMessage = z.output<typeof gradientSchema>;
export type LeaveMessage = z.output<typeof leaveSchema>;
export type ErrorMessage = z.output<typeof errorSchema>;
export type ClientMessage = z.output<typeof clientMessageSchema>;
export type RunInfo = z.output<typeof runInfoSchema>;
export type WelcomeMessage = z.output<typeof welcomeSchema>;
export type ParamsMessage = z.output<typeof paramsSchema>;
export type TaskMessage = z.output<typeof taskSchema>;
export type DoneMessage = z.output<typeof doneSchema>;
export type ServerMessage = z.output<typeof serverMessageSchema>;
export type Message = ClientMessage | ServerMessage;
export type WorkerKind = (typeof WORKER_KINDS)[number];

/**
 * The wire `error` for a code: the table's message (plus detail) and its
 * fatal flag, unless overridden.
 */
export function errorMessage(
  code: ErrorCode,
  detail?: string,
  options: { fatal?: boolean; taskId?: number } = {},
): ErrorMessage {
  const message: ErrorMessage = {
    type: 'error',
    code,
    message: errorText(code, detail).slice(0, MAX_TEXT),
    fatal: options.fatal ?? ERRORS[code].fatal,
  };
  if (options.taskId !== undefined) message.taskId = options.taskId;
  return message;
}
