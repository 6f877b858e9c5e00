import { z } from 'zod';
import { ERROR_CODES, ERRORS, errorText, type ErrorCode } from './errors.js';
import { counter, intIn, name, numberIn, text, typedArray } from './fields.js';
import { MAX_BATCH, MAX_GRAD, MAX_MS, MAX_NODES, MAX_PARAMS, MAX_SPEED, MAX_TEXT, MAX_THREADS, MAX_URL } from './limits.js';
import { COMPRESSIONS, INT8_BLOCK, int8ScaleCount, quantizedLength, type Quantized } from './quantize.js';

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

// ---- value forms ---------------------------------------------------------

/** Scales in one message: one per INT8_BLOCK values, plus a partial block per node. */
const MAX_SCALES = MAX_GRAD / INT8_BLOCK + MAX_NODES;

/** The fields a message carries its values in, one per form (`plain` is float32). */
interface FormFields {
  plain?: string;
  f16: string;
  i8: string;
  scale: string;
}

const GRADIENT_FORMS: FormFields = { plain: 'grad', f16: 'gradF16', i8: 'gradI8', scale: 'gradScale' };
const DELTA_FORMS: FormFields = { f16: 'deltaF16', i8: 'deltaI8', scale: 'deltaScale' };

/**
 * What is wrong with a message's value forms, as (field, message), or
 * undefined: exactly one form must be present, int8 codes come with their
 * scales (and scales only with codes), and the values split into `rows`
 * equal rows, each with its own int8 blocks.
 */
function formProblem(value: object, f: FormFields, rows: number, rowName: string): [string, string] | undefined {
  const v = value as Record<string, { length: number } | undefined>;
  const forms = [f.plain, f.f16, f.i8].filter((k): k is string => k !== undefined);
  const present = forms.filter((k) => v[k] !== undefined);
  if (present.length !== 1) return [present[1] ?? forms[0]!, `expected exactly one of ${forms.join(', ')}, got ${present.length}`];
  const field = present[0]!;
  const length = v[field]!.length;
  if (length % rows !== 0) return [field, `length ${length} is not a multiple of the ${rows} ${rowName}`];
  const scales = v[f.scale];
  if (field !== f.i8) return scales === undefined ? undefined : [f.scale, `only goes with ${f.i8}`];
  if (scales === undefined) return [f.scale, `is required with ${f.i8}`];
  const want = rows * int8ScaleCount(length / rows);
  if (scales.length !== want) return [f.scale, `expected ${want} (one per ${INT8_BLOCK} values${rows > 1 ? ` of each of the ${rows} ${rowName}` : ''}), got ${scales.length}`];
  return undefined;
}

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
 * node, and the values one paramCount-long block per node, in the same order:
 * as float32 in `grad`, or — in a run with `compress` — as halves in
 * `gradF16`, or as int8 codes in `gradI8` with `gradScale`, one scale per
 * block of INT8_BLOCK values of each node. Exactly one form is present. The
 * schema checks the shapes agree; the coordinator checks them against the
 * run, form included (WRONG_LENGTH), and for NaN after decoding (NON_FINITE).
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
    grad: typedArray<Float32Array>(Float32Array, MAX_GRAD).optional(),
    gradF16: typedArray<Uint16Array>(Uint16Array, MAX_GRAD).optional(),
    gradI8: typedArray<Int8Array>(Int8Array, MAX_GRAD).optional(),
    gradScale: typedArray<Float32Array>(Float32Array, MAX_SCALES).optional(),
  })
  .check((ctx) => {
    const { nodes, losses } = ctx.value;
    const issue = (field: string, message: string) =>
      ctx.issues.push({ code: 'custom', input: ctx.value, path: [field], message });
    if (nodes.length === 0 || nodes.length % 2 !== 0) {
      issue('nodes', `expected a non-empty list of (lo, hi) pairs, got ${nodes.length} numbers`);
      return;
    }
    const count = nodes.length / 2;
    if (losses.length !== count) issue('losses', `expected ${count} (one per node), got ${losses.length}`);
    const problem = formProblem(ctx.value, GRADIENT_FORMS, count, 'nodes');
    if (problem !== undefined) issue(...problem);
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
    /**
     * fp16 or int8: gradients are sent in that form, with error feedback, and
     * parameters arrive as paramsDelta after the first full params. Absent
     * means none (float32 both ways).
     */
    compress: z.enum(COMPRESSIONS).optional(),
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
 * Compressed runs: parameters version `version` are the receiver's version
 * `base` plus the decoded delta (added in float32, in order), which the
 * coordinator computes the same way, so both hold the same bits. Halves in
 * `deltaF16`, or int8 codes in `deltaI8` with `deltaScale` (one per block of
 * INT8_BLOCK values). A receiver not holding `base` cannot use it; the
 * coordinator sends a full `params` instead to anyone it knows to be behind.
 */
export const paramsDeltaSchema = z
  .strictObject({
    type: z.literal('paramsDelta'),
    version: counter,
    base: counter,
    deltaF16: typedArray<Uint16Array>(Uint16Array, MAX_PARAMS).optional(),
    deltaI8: typedArray<Int8Array>(Int8Array, MAX_PARAMS).optional(),
    deltaScale: typedArray<Float32Array>(Float32Array, int8ScaleCount(MAX_PARAMS)).optional(),
  })
  .check((ctx) => {
    const issue = (field: string, message: string) =>
      ctx.issues.push({ code: 'custom', input: ctx.value, path: [field], message });
    if (ctx.value.base >= ctx.value.version) issue('base', 'is not below version');
    const problem = formProblem(ctx.value, DELTA_FORMS, 1, 'rows');
    if (problem !== undefined) issue(...problem);
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
  paramsDeltaSchema,
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
  paramsDeltaSchema,
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
export type ParamsDeltaMessage = z.output<typeof paramsDeltaSchema>;
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

// ---- value forms, both ways ----------------------------------------------

/** A validated gradient's values: float32 as sent, or the encoded form (views, no copy). */
export function gradientPayload(g: GradientMessage): { kind: 'none'; grad: Float32Array } | Quantized {
  if (g.gradF16 !== undefined) return { kind: 'fp16', f16: g.gradF16 };
  if (g.gradI8 !== undefined && g.gradScale !== undefined) return { kind: 'int8', i8: g.gradI8, scale: g.gradScale };
  return { kind: 'none', grad: g.grad ?? new Float32Array(0) };
}

/** How many values a validated gradient carries, whatever their form. */
export function gradientLength(g: GradientMessage): number {
  const values = gradientPayload(g);
  return values.kind === 'none' ? values.grad.length : quantizedLength(values);
}

/** The gradient message fields carrying encoded values. */
export function gradientFields(q: Quantized): Pick<GradientMessage, 'gradF16' | 'gradI8' | 'gradScale'> {
  return q.kind === 'fp16' ? { gradF16: q.f16 } : { gradI8: q.i8, gradScale: q.scale };
}

/** A validated delta's encoded values (views, no copy). */
export function deltaPayload(m: ParamsDeltaMessage): Quantized {
  if (m.deltaF16 !== undefined) return { kind: 'fp16', f16: m.deltaF16 };
  return { kind: 'int8', i8: m.deltaI8 ?? new Int8Array(0), scale: m.deltaScale ?? new Float32Array(0) };
}

/** The paramsDelta message fields carrying encoded values. */
export function deltaFields(q: Quantized): Pick<ParamsDeltaMessage, 'deltaF16' | 'deltaI8' | 'deltaScale'> {
  return q.kind === 'fp16' ? { deltaF16: q.f16 } : { deltaI8: q.i8, deltaScale: q.scale };
}
