import { Packr } from 'msgpackr';
import { describe, expect, test } from 'vitest';
import {
  ERRORS, ERROR_CODES, MAX_NODES, MAX_PARAMS, PROTOCOL_VERSION, ProtocolError, bytesOf, decodeClientMessage, decodeServerMessage,
  encode, errorCodeForClose, errorMessage, isFiniteArray, modelSpecSchema, specParamCount,
} from '../src/index.js';

// A plain packer, so tests can put anything on the wire, bypassing encode's types.
const raw = new Packr({ useRecords: false, variableMapSize: true });
const wire = (value: unknown) => raw.pack(value);

const hello = { type: 'hello', protocol: PROTOCOL_VERSION, name: 'w1', kind: 'node', threads: 4 };
const gradient = {
  type: 'gradient', step: 3, taskId: 7, samples: 32, computeMs: 1.5,
  nodes: bytesOf(new Uint32Array([0, 2, 2, 3])), losses: bytesOf(new Float64Array([1, 2])), grad: bytesOf(new Float32Array(6)),
};
const task = { type: 'task', step: 1, taskId: 2, paramsVersion: 1, batch: 128, mbLo: 0, mbHi: 4, indices: bytesOf(new Uint32Array([5, 1, 9])) };

function clientFailure(value: unknown): string {
  const r = decodeClientMessage(wire(value));
  if (r.ok) throw new Error('expected a failure');
  expect(r.code).toBe('BAD_MESSAGE');
  return r.message;
}
function serverFailure(value: unknown): string {
  const r = decodeServerMessage(wire(value));
  if (r.ok) throw new Error('expected a failure');
  expect(r.code).toBe('BAD_MESSAGE');
  return r.message;
}

describe('wrong types are rejected with a message naming the field', () => {
  test.each([
    [{ ...hello, threads: '4' }, /hello\.threads: .*expected number/],
    [{ ...hello, threads: 0 }, /hello\.threads: .*>=1/],
    [{ ...hello, threads: 2.5 }, /hello\.threads: .*expected int/],
    [{ ...hello, kind: 'phone' }, /hello\.kind/],
    [{ ...hello, name: 'x'.repeat(65) }, /hello\.name: .*<=64/],
    [{ ...hello, name: '' }, /hello\.name/],
    [{ ...hello, speed: -1 }, /hello\.speed/],
    [{ ...hello, extra: 1 }, /hello: unknown field 'extra'/],
    [{ ...gradient, grad: [1, 2, 3] }, /gradient\.grad: expected Float32Array bytes/],
    [{ ...gradient, grad: new Uint8Array(7) }, /gradient\.grad: byte length 7 is not a multiple of 4/],
    [{ ...gradient, losses: bytesOf(new Float64Array(3)) }, /gradient\.losses: expected 2 \(one per node\), got 3/],
    [{ ...gradient, nodes: bytesOf(new Uint32Array(3)) }, /gradient\.nodes: expected a non-empty list of \(lo, hi\) pairs/],
    [{ ...gradient, grad: bytesOf(new Float32Array(5)) }, /gradient\.grad: length 5 is not a multiple of the 2 nodes/],
    [{ ...gradient, step: -1 }, /gradient\.step/],
    [{ ...gradient, step: 2 ** 60 }, /gradient\.step/],
    [{ ...gradient, computeMs: Number.POSITIVE_INFINITY }, /gradient\.computeMs/],
    [{ ...gradient, samples: Number.NaN }, /gradient\.samples/],
    [{ type: 'leave', reason: 7 }, /leave\.reason/],
    [{ type: 'params' }, /type: unknown message type 'params' \(expected hello \| gradient \| leave \| error\)/],
    [{ hello: 1 }, /type: missing or not a string/],
    [[1, 2], /expected object/],
    ['hello', /expected object/],
  ])('%o', (value, pattern) => {
    const message = clientFailure(value);
    expect(message).toMatch(pattern);
    expect(message).not.toMatch(/\n/);
  });

  const welcome = {
    type: 'welcome', workerId: 'w',
    run: { runId: 'r', dataset: 'mnist', datasetUrl: null, spec: {}, paramCount: 10, batch: 64, microBatch: 8, seed: 1 },
  };
  test.each([
    [{ ...task, mbHi: -1 }, /task\.mbHi/],
    [{ ...task, batch: 0 }, /task\.batch/],
    [(({ batch: _, ...t }) => t)(task), /task\.batch: .*expected number/],
    [{ ...task, mbLo: 5, mbHi: 4 }, /task\.mbHi: is below mbLo/],
    [{ ...task, indices: bytesOf(new Float32Array(2)).subarray(1) }, /task\.indices: byte length 7/],
    [{ ...welcome, run: { ...welcome.run, microBatch: 65 } }, /welcome\.run\.microBatch: exceeds batch/],
    [{ ...welcome, run: { ...welcome.run, spec: [1] } }, /welcome\.run\.spec/],
    [{ ...welcome, run: { ...welcome.run, datasetUrl: 3 } }, /welcome\.run\.datasetUrl/],
    [{ ...welcome, run: { ...welcome.run, paramCount: MAX_PARAMS + 1 } }, /welcome\.run\.paramCount/],
    [{ type: 'error', code: 'NOPE', message: 'x', fatal: true }, /error\.code/],
    [{ type: 'params', version: 1, params: new Uint8Array(4 * 3 + 1) }, /params\.params: byte length 13/],
    [hello, /type: unknown message type 'hello' \(expected welcome \| params \| paramsDelta \| task \| done \| error\)/],
  ])('%o', (value, pattern) => {
    expect(serverFailure(value)).toMatch(pattern);
  });

  test('a typed array over its limit is refused by length', () => {
    const nodes = bytesOf(new Uint32Array(2 * MAX_NODES + 2));
    expect(clientFailure({ ...gradient, nodes })).toMatch(`gradient.nodes: ${2 * MAX_NODES + 2} elements exceed the limit of ${2 * MAX_NODES}`);
  });
});

describe('compressed values: exactly one form, lengths consistent with the nodes', () => {
  // Two nodes of 300 values: int8 needs two scales per node (256 + 44 values).
  const { grad: _, ...noGrad } = gradient;
  const f16 = { ...noGrad, gradF16: bytesOf(new Uint16Array(600)) };
  const i8 = { ...noGrad, gradI8: bytesOf(new Int8Array(600)), gradScale: bytesOf(new Float32Array(4)) };
  const delta = { type: 'paramsDelta', version: 5, base: 4, deltaF16: bytesOf(new Uint16Array(300)) };
  const deltaI8 = { type: 'paramsDelta', version: 5, base: 4, deltaI8: bytesOf(new Int8Array(300)), deltaScale: bytesOf(new Float32Array(2)) };

  test('the well-formed ones decode to their typed arrays', () => {
    const a = decodeClientMessage(wire(f16));
    const b = decodeClientMessage(wire(i8));
    expect(a.ok && a.msg.type === 'gradient' && a.msg.gradF16).toBeInstanceOf(Uint16Array);
    expect(b.ok && b.msg.type === 'gradient' && b.msg.gradI8).toBeInstanceOf(Int8Array);
    for (const d of [delta, deltaI8]) expect(decodeServerMessage(wire(d)).ok).toBe(true);
  });

  test.each([
    [noGrad, /gradient\.grad: expected exactly one of grad, gradF16, gradI8, got 0/],
    [{ ...f16, grad: gradient.grad }, /gradient\.gradF16: expected exactly one of grad, gradF16, gradI8, got 2/],
    [{ ...i8, gradF16: f16.gradF16 }, /gradient\.gradI8: expected exactly one of grad, gradF16, gradI8, got 2/],
    [{ ...f16, gradScale: bytesOf(new Float32Array(4)) }, /gradient\.gradScale: only goes with gradI8/],
    [{ ...i8, gradScale: undefined }, /gradient\.gradScale: is required with gradI8/],
    [{ ...i8, gradScale: bytesOf(new Float32Array(3)) }, /gradient\.gradScale: expected 4 \(one per 256 values of each of the 2 nodes\), got 3/],
    [{ ...i8, gradScale: bytesOf(new Float32Array(5)) }, /gradient\.gradScale: expected 4/],
    [{ ...f16, gradF16: bytesOf(new Uint16Array(601)) }, /gradient\.gradF16: length 601 is not a multiple of the 2 nodes/],
    [{ ...i8, gradI8: bytesOf(new Int8Array(601)) }, /gradient\.gradI8: length 601 is not a multiple of the 2 nodes/],
    [{ ...f16, gradF16: new Uint8Array(3) }, /gradient\.gradF16: byte length 3 is not a multiple of 2/],
    [{ ...f16, gradF16: [1, 2] }, /gradient\.gradF16: expected Uint16Array bytes/],
  ])('%o', (value, pattern) => {
    const clean = Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
    expect(clientFailure(clean)).toMatch(pattern);
  });

  test.each([
    [{ ...delta, base: 5 }, /paramsDelta\.base: is not below version/],
    [{ ...delta, deltaI8: deltaI8.deltaI8, deltaScale: deltaI8.deltaScale }, /paramsDelta\.deltaI8: expected exactly one of deltaF16, deltaI8, got 2/],
    [{ type: 'paramsDelta', version: 5, base: 4 }, /paramsDelta\.deltaF16: expected exactly one of deltaF16, deltaI8, got 0/],
    [{ ...deltaI8, deltaScale: bytesOf(new Float32Array(1)) }, /paramsDelta\.deltaScale: expected 2 \(one per 256 values\), got 1/],
    [{ ...delta, deltaScale: bytesOf(new Float32Array(2)) }, /paramsDelta\.deltaScale: only goes with deltaI8/],
    [{ ...delta, params: bytesOf(new Float32Array(1)) }, /paramsDelta: unknown field 'params'/],
  ])('%o', (value, pattern) => {
    expect(serverFailure(value)).toMatch(pattern);
  });

  test('a run names its compression: none, fp16 or int8', () => {
    const run = { runId: 'r', dataset: 'mnist', datasetUrl: null, spec: {}, paramCount: 10, batch: 64, microBatch: 8, seed: 1 };
    for (const compress of ['none', 'fp16', 'int8']) expect(decodeServerMessage(wire({ type: 'welcome', workerId: 'w', run: { ...run, compress } })).ok).toBe(true);
    expect(serverFailure({ type: 'welcome', workerId: 'w', run: { ...run, compress: 'int4' } })).toMatch(/welcome\.run\.compress/);
  });
});

describe('hello and the protocol version', () => {
  test('the current version is accepted', () => {
    expect(decodeClientMessage(wire(hello)).ok).toBe(true);
  });

  test('another version is PROTOCOL_MISMATCH naming both versions, even with fields this version does not know', () => {
    const r = decodeClientMessage(wire({ ...hello, protocol: PROTOCOL_VERSION + 1, newField: { x: 1 } }));
    expect(r.ok).toBe(false);
    expect(r.ok || r.code).toBe('PROTOCOL_MISMATCH');
    expect(r.ok || r.message).toMatch(`client speaks version ${PROTOCOL_VERSION + 1}, coordinator speaks version ${PROTOCOL_VERSION}`);
  });

  test('a hello without a version is a mismatch too', () => {
    const { protocol: _, ...noVersion } = hello;
    const r = decodeClientMessage(wire(noVersion));
    expect(r.ok || r.code).toBe('PROTOCOL_MISMATCH');
  });
});

describe('model spec', () => {
  const spec = { inputs: 784, layers: [{ units: 128, activation: 'relu' }, { units: 10, activation: 'softmax' }], loss: 'softmax_xent' };

  test('a valid spec parses', () => {
    expect(modelSpecSchema.parse(spec)).toEqual(spec);
    expect(modelSpecSchema.parse({ ...spec, init: 'he', leakySlope: 0.01 }).init).toBe('he');
    expect(specParamCount(spec)).toBe(784 * 128 + 128 + 128 * 10 + 10);
  });

  test.each([
    [{ ...spec, inputs: 0 }, 'inputs'],
    [{ ...spec, layers: [] }, 'layers'],
    [{ ...spec, layers: Array(65).fill({ units: 1, activation: 'relu' }) }, 'layers'],
    [{ ...spec, layers: [{ units: 10, activation: 'gelu' }] }, 'layers.0.activation'],
    [{ ...spec, layers: [{ units: 10, activation: 'relu', extra: 1 }] }, 'layers.0'],
    [{ ...spec, loss: 'hinge' }, 'loss'],
    [{ ...spec, init: 'zeros' }, 'init'],
    [{ ...spec, leakySlope: 2 }, 'leakySlope'],
    [{ ...spec, inputs: 100_000, layers: [{ units: 100_000, activation: 'relu' }] }, 'layers'],
  ])('%o is refused at %s', (bad, path) => {
    const r = modelSpecSchema.safeParse(bad);
    expect(r.success).toBe(false);
    expect(r.error?.issues[0].path.join('.')).toBe(path);
  });
});

describe('error table', () => {
  test('close codes are distinct and valid for a WebSocket close frame', () => {
    const closes = ERROR_CODES.map((c) => ERRORS[c].close);
    expect(new Set(closes).size).toBe(closes.length);
    for (const close of closes) expect(close === 1001 || close === 1007 || close === 1009 || close === 1011 || (close >= 4000 && close <= 4999)).toBe(true);
    for (const code of ERROR_CODES) expect(errorCodeForClose(ERRORS[code].close)).toBe(code);
    expect(errorCodeForClose(1000)).toBeUndefined();
  });

  test('the codes a client must not retry on', () => {
    expect(ERROR_CODES.filter((c) => !ERRORS[c].retry).sort()).toEqual(['NOT_HELLO_FIRST', 'PROTOCOL_MISMATCH', 'RUN_INCOMPATIBLE', 'UNAUTHORIZED']);
  });

  test('errorMessage builds a valid wire error with the default message and fatal flag', () => {
    const m = errorMessage('STALE_STEP', 'step 3 is done', { taskId: 9 });
    expect(m).toEqual({ type: 'error', code: 'STALE_STEP', message: 'Gradient is for a step that is already reduced: step 3 is done', fatal: false, taskId: 9 });
    expect(decodeServerMessage(encode(m))).toEqual({ ok: true, msg: m });
    expect(errorMessage('UNAUTHORIZED').fatal).toBe(true);
    expect(errorMessage('INTERNAL', 'x'.repeat(5000)).message.length).toBe(1024);
  });

  test('a decode failure passed to errorMessage keeps its message, without a doubled prefix', () => {
    const r = decodeClientMessage(wire({ ...hello, threads: 0 }));
    if (r.ok) throw new Error('expected a failure');
    const m = errorMessage(r.code, r.message);
    expect(m.message).toBe(r.message);
    expect(m.message.split(ERRORS.BAD_MESSAGE.message).length).toBe(2);
  });

  test('ProtocolError carries the code, close code and retry flag', () => {
    const e = new ProtocolError('UNAUTHORIZED', 'bad token');
    expect(e).toBeInstanceOf(Error);
    expect([e.code, e.closeCode, e.fatal, e.retry, e.message]).toEqual(['UNAUTHORIZED', 4003, true, false, 'Missing or wrong run token: bad token']);
  });
});

describe('isFiniteArray', () => {
  test('finds NaN and infinities anywhere, accepts -0 and subnormals', () => {
    expect(isFiniteArray(new Float32Array([0, -0, 1e-45, 3.4e38]))).toBe(true);
    expect(isFiniteArray(new Float64Array([Number.MIN_VALUE, -Number.MAX_VALUE]))).toBe(true);
    expect(isFiniteArray(new Float32Array(0))).toBe(true);
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      for (const at of [0, 500, 999]) {
        const a = new Float32Array(1000);
        a[at] = bad;
        expect(isFiniteArray(a)).toBe(false);
      }
    }
    expect(isFiniteArray(new Float32Array(new Uint32Array([0x7f800001]).buffer))).toBe(false); // a NaN payload
  });
});
