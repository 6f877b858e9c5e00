import fc from 'fast-check';
import { ERROR_CODES, PROTOCOL_VERSION, int8ScaleCount, type Message } from '../src/index.js';

/** Every 32-bit pattern, so NaN payloads, -0, subnormals and infinities all occur. */
export const float32Bits = (maxLength: number) =>
  fc.uint32Array({ maxLength }).map((bits) => new Float32Array(bits.buffer, 0, bits.length));

export const float64Bits = (maxLength: number) =>
  fc.uint32Array({ maxLength: 2 * maxLength }).map((bits) => {
    const even = bits.length - (bits.length % 2);
    return new Float64Array(bits.buffer, 0, even / 2);
  });

const name = fc.string({ minLength: 1, maxLength: 64 });
const text = fc.string({ unit: 'binary', maxLength: 200 });
const counter = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const ms = fc.double({ min: 0, max: 1e6, noNaN: true });

export const hello = fc.record(
  {
    type: fc.constant('hello' as const),
    protocol: fc.constant(PROTOCOL_VERSION),
    name,
    kind: fc.constantFrom('node' as const, 'browser' as const),
    threads: fc.integer({ min: 1, max: 1024 }),
    speed: fc.double({ min: 0, max: 1e9, noNaN: true }),
  },
  { requiredKeys: ['type', 'protocol', 'name', 'kind', 'threads'] },
);

const exactly = (n: number) => ({ minLength: n, maxLength: n });

/** A vector of `rows` × `rowLength` values in one of the wire's forms, under the given field names. */
function values(form: 'none' | 'fp16' | 'int8', rows: number, rowLength: number, names: [string, string, string, string]) {
  const n = rows * rowLength;
  const [plain, f16, i8, scale] = names;
  if (form === 'none') return fc.record({ [plain]: fc.uint32Array(exactly(n)).map((bits) => new Float32Array(bits.buffer)) });
  if (form === 'fp16') return fc.record({ [f16]: fc.uint16Array(exactly(n)) });
  const scales = rows * int8ScaleCount(rowLength);
  return fc.record({ [i8]: fc.int8Array(exactly(n)), [scale]: fc.uint32Array(exactly(scales)).map((bits) => new Float32Array(bits.buffer)) });
}

const form = fc.constantFrom('none' as const, 'fp16' as const, 'int8' as const);

export const gradient = fc
  .record({ nodeCount: fc.integer({ min: 1, max: 5 }), paramCount: fc.integer({ min: 0, max: 300 }), form })
  .chain(({ nodeCount, paramCount, form }) =>
    fc
      .tuple(
        fc.record({
          type: fc.constant('gradient' as const),
          step: counter,
          taskId: counter,
          samples: fc.integer({ min: 0, max: 1 << 20 }),
          computeMs: ms,
          nodes: fc.uint32Array({ minLength: 2 * nodeCount, maxLength: 2 * nodeCount }),
          losses: float64Bits(nodeCount).filter((a) => a.length === nodeCount),
        }),
        values(form, nodeCount, paramCount, ['grad', 'gradF16', 'gradI8', 'gradScale']),
      )
      .map(([head, vals]) => ({ ...head, ...vals })),
  );

export const leave = fc.record({ type: fc.constant('leave' as const), reason: text }, { requiredKeys: ['type'] });

export const error = fc.record(
  {
    type: fc.constant('error' as const),
    code: fc.constantFrom(...ERROR_CODES),
    message: text,
    fatal: fc.boolean(),
    taskId: counter,
  },
  { requiredKeys: ['type', 'code', 'message', 'fatal'] },
);

// Without "__proto__" keys (fast-check generates them on purpose): the codec renames that key on
// decode by design (codec-safety.test.ts tests it), so such a value cannot round-trip unchanged.
const json = fc.jsonValue({ maxDepth: 3 }).filter((v) => !JSON.stringify(v).includes('"__proto__"'));

export const welcome = fc.record({
  type: fc.constant('welcome' as const),
  workerId: name,
  run: fc
    .record(
      {
        runId: name,
        dataset: name,
        datasetUrl: fc.option(fc.webUrl(), { nil: null }),
        // Through JSON, as a spec file would be: that also turns -0 into 0, which
        // msgpackr would do anyway (it writes an integral -0 as the integer 0).
        spec: fc.dictionary(fc.string({ maxLength: 10 }).filter((k) => k !== '__proto__'), json, { maxKeys: 5 }).map((d) => JSON.parse(JSON.stringify(d)) as Record<string, unknown>),
        paramCount: fc.integer({ min: 1, max: 1 << 20 }),
        batch: fc.integer({ min: 1, max: 4096 }),
        microBatch: fc.integer({ min: 1, max: 4096 }),
        seed: counter,
        kernels: name,
        compress: fc.constantFrom('none' as const, 'fp16' as const, 'int8' as const),
      },
      { requiredKeys: ['runId', 'dataset', 'datasetUrl', 'spec', 'paramCount', 'batch', 'microBatch', 'seed'] },
    )
    .map((run) => ({ ...run, microBatch: Math.min(run.microBatch, run.batch) })),
});

export const params = fc.record({ type: fc.constant('params' as const), version: counter, params: float32Bits(300) });

export const paramsDelta = fc
  .record({ version: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), back: fc.integer({ min: 1, max: 1000 }), length: fc.nat({ max: 600 }), form: fc.constantFrom('fp16' as const, 'int8' as const) })
  .chain(({ version, back, length, form }) =>
    values(form, 1, length, ['', 'deltaF16', 'deltaI8', 'deltaScale']).map((vals) => ({ type: 'paramsDelta' as const, version, base: Math.max(0, version - back), ...vals })),
  );

export const task = fc
  .record({
    type: fc.constant('task' as const),
    step: counter,
    taskId: counter,
    paramsVersion: counter,
    batch: fc.integer({ min: 1, max: 100000 }),
    mbLo: fc.nat({ max: 1000 }),
    span: fc.nat({ max: 1000 }),
    indices: fc.uint32Array({ maxLength: 300 }),
  })
  .map(({ span, ...t }) => ({ ...t, mbHi: t.mbLo + span }));

export const done = fc.record({ type: fc.constant('done' as const), reason: text });

export const anyMessage: fc.Arbitrary<Message> = fc.oneof(hello, gradient, leave, error, welcome, params, paramsDelta, task, done);

/** Equal, with typed arrays compared by type and bytes (NaN payloads and -0 included). */
export function sameMessage(actual: unknown, expected: unknown): boolean {
  if (ArrayBuffer.isView(expected)) {
    if (!ArrayBuffer.isView(actual) || actual.constructor !== expected.constructor) return false;
    const a = new Uint8Array(actual.buffer, actual.byteOffset, actual.byteLength);
    const b = new Uint8Array(expected.buffer, expected.byteOffset, expected.byteLength);
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }
  if (typeof expected === 'object' && expected !== null) {
    if (typeof actual !== 'object' || actual === null) return false;
    const ek = Object.keys(expected);
    const ak = Object.keys(actual);
    if (ek.length !== ak.length) return false;
    return ek.every((k) => sameMessage((actual as Record<string, unknown>)[k], (expected as Record<string, unknown>)[k]));
  }
  return Object.is(actual, expected);
}
