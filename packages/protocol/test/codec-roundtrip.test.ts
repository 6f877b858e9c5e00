import fc from 'fast-check';
import { pack, unpack } from 'msgpackr';
import { describe, expect, test } from 'vitest';
import { decode, decodeClientMessage, decodeServerMessage, encode, type Message } from '../src/index.js';
import * as arb from './arbitraries.js';

function roundTrip(msg: Message): Message {
  const result = decode(encode(msg));
  if (!result.ok) throw new Error(`${result.code}: ${result.message}`);
  return result.msg;
}

describe('round trip', () => {
  test("msgpackr's defaults do not give a Float32Array back (why the codec exists)", () => {
    const back = unpack(pack({ grad: new Float32Array([1.5, -0]) })) as { grad: unknown };
    expect(back.grad).not.toBeInstanceOf(Float32Array);
    const ours = roundTrip({ type: 'params', version: 0, params: new Float32Array([1.5, -0]) });
    expect(ours.type === 'params' && ours.params).toBeInstanceOf(Float32Array);
  });

  test('every message type comes back exactly, typed arrays bit for bit', () => {
    fc.assert(
      fc.property(arb.anyMessage, (msg) => {
        expect(sameMessageOrDiff(roundTrip(msg), msg)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  test('client messages through decodeClientMessage, server messages through decodeServerMessage', () => {
    fc.assert(
      fc.property(fc.oneof(arb.hello, arb.gradient, arb.leave, arb.error), (msg) => {
        const r = decodeClientMessage(encode(msg));
        expect(r.ok && arb.sameMessage(r.msg, msg)).toBe(true);
        expect(decodeServerMessage(encode(msg)).ok).toBe(msg.type === 'error');
      }),
    );
    fc.assert(
      fc.property(fc.oneof(arb.welcome, arb.params, arb.paramsDelta, arb.task, arb.done), (msg) => {
        const r = decodeServerMessage(encode(msg));
        expect(r.ok && arb.sameMessage(r.msg, msg)).toBe(true);
        expect(decodeClientMessage(encode(msg)).ok).toBe(false);
      }),
    );
  });

  test('special float values keep their bits: -0, subnormals, NaN payloads, infinities', () => {
    const bits = new Uint32Array([
      0x80000000, // -0
      0x00000001, // smallest subnormal
      0x807fffff, // largest negative subnormal
      0x7fc00000, // canonical quiet NaN
      0x7f800001, // signalling NaN
      0xffc12345, // negative NaN with payload
      0x7f800000, // +Infinity
      0xff800000, // -Infinity
    ]);
    const params = new Float32Array(bits.buffer);
    const back = roundTrip({ type: 'params', version: 1, params });
    expect(back.type === 'params' && new Uint32Array(back.params.buffer, back.params.byteOffset, 8)).toEqual(bits);

    const bits64 = new Uint32Array([0, 0x80000000, 1, 0, 0x1, 0x7ff00000, 0xdeadbeef, 0xfff7ffff]);
    const losses = new Float64Array(bits64.buffer);
    const g = roundTrip({
      type: 'gradient', step: 0, taskId: 0, samples: 1, computeMs: 0,
      nodes: new Uint32Array([0, 1, 1, 2, 2, 3, 3, 4]), losses, grad: new Float32Array(4),
    });
    expect(g.type === 'gradient' && new Uint32Array(g.losses.slice().buffer)).toEqual(bits64);
  });

  test('a frame stays valid after later encodes (msgpackr reuses its buffer, but never rewinds over a returned frame)', () => {
    const first = encode({ type: 'params', version: 1, params: new Float32Array(1000).fill(1) });
    const copy = first.slice();
    for (let i = 0; i < 50; i++) encode({ type: 'params', version: i, params: new Float32Array(5000).fill(i) });
    expect(first).toEqual(copy);
    expect(first.constructor).toBe(Uint8Array); // not a Node Buffer
  });

  test('optional fields left undefined are omitted, not sent as an extension', () => {
    const msg = { type: 'leave', reason: undefined } as unknown as Message;
    expect(roundTrip(msg)).toEqual({ type: 'leave' });
  });

  test('typed arrays that are views at odd offsets of larger buffers encode only their own bytes', () => {
    const backing = new Uint8Array(4 * 11 + 3);
    backing.forEach((_, i) => (backing[i] = i));
    const params = new Float32Array(backing.buffer.slice(0), 4, 10); // a view past the start
    const back = roundTrip({ type: 'params', version: 2, params });
    expect(back.type === 'params' && arb.sameMessage(back.params, params)).toBe(true);
    expect(back.type === 'params' && back.params.length).toBe(10);
  });
});

describe('decode of typed arrays: zero-copy when aligned, one copy when not', () => {
  // The same frame placed at offsets 0..7 of a larger buffer: the bin payload
  // lands on every alignment. Aligned → a view of the input; otherwise a copy.
  const msg: Message = { type: 'params', version: 9, params: new Float32Array([1, 2, 3, 4.5, -0]) };
  const frame = encode(msg);

  for (let shift = 0; shift < 8; shift++) {
    test(`frame at byte offset ${shift}`, () => {
      const backing = new Uint8Array(frame.length + 16);
      backing.set(frame, shift);
      const input = backing.subarray(shift, shift + frame.length);
      const r = decodeServerMessage(input);
      expect(r.ok).toBe(true);
      if (!r.ok || r.msg.type !== 'params') return;
      expect(arb.sameMessage(r.msg.params, msg.params)).toBe(true);
      const aligned = r.msg.params.buffer === backing.buffer;
      const payloadOffset = frame.length - 20 + shift; // the bin payload is the last 20 bytes
      expect(aligned).toBe(payloadOffset % 4 === 0);
      if (aligned) expect(r.msg.params.byteOffset).toBe(payloadOffset);
    });
  }

  test('a large payload is placed 8-byte aligned in its frame, so an aligned frame decodes to a view (zero-copy)', () => {
    const grad = Float32Array.from({ length: 70_002 }, (_, i) => Math.sin(i) * 1e-3);
    const g: Message = { type: 'gradient', step: 3, taskId: 7, samples: 64, computeMs: 1.5, nodes: new Uint32Array([0, 2, 2, 3]), losses: new Float64Array([1.25, 0.5]), grad };
    const f = encode(g);
    expect(f.byteOffset).toBe(0);
    const r = decodeClientMessage(f);
    expect(r.ok).toBe(true);
    if (!r.ok || r.msg.type !== 'gradient') return;
    expect(r.msg.grad!.buffer).toBe(f.buffer);
    expect(r.msg.grad!.byteOffset % 8).toBe(0);
    expect(sameMessageOrDiff(r.msg, g)).toBe(true);
    // Plain MessagePack still: a generic decoder reads the same fields plus the padding entry.
    const generic = unpack(f) as Record<string, unknown>;
    expect(Object.keys(generic).sort()).toEqual(['_', ...Object.keys(g)].sort());
    expect(generic._).toMatch(/^ *$/);
    // The big params message of every step, too.
    const p = encode({ type: 'params', version: 4, params: grad });
    const rp = decodeServerMessage(p);
    expect(rp.ok && rp.msg.type === 'params' && rp.msg.params.buffer === p.buffer).toBe(true);
  });

  test('encode into a reused buffer: the same bytes, written into that buffer when it is large enough', () => {
    const into = new Uint8Array(300_000);
    fc.assert(
      fc.property(arb.anyMessage, (msg) => {
        const fresh = encode(msg);
        const reused = encode(msg, into);
        expect(Buffer.from(reused).equals(Buffer.from(fresh))).toBe(true);
        expect(reused.buffer).toBe(fresh.byteLength <= into.byteLength ? into.buffer : reused.buffer);
      }),
      { numRuns: 500 },
    );
    const grad = Float32Array.from({ length: 70_002 }, (_, i) => i);
    const g: Message = { type: 'gradient', step: 3, taskId: 7, samples: 64, computeMs: 1.5, nodes: new Uint32Array([0, 2]), losses: new Float64Array([1.25]), grad };
    const a = encode(g, into);
    expect(a.buffer).toBe(into.buffer);
    expect(a.byteOffset).toBe(0);
    const r = decodeClientMessage(a.slice());
    expect(r.ok && r.msg.type === 'gradient' && sameMessageOrDiff(r.msg, g)).toBe(true);
    // Too small: a fresh frame, the buffer untouched.
    const small = new Uint8Array(16);
    expect(encode(g, small).buffer).not.toBe(small.buffer);
    expect(small.every((x) => x === 0)).toBe(true);
  });

  test('an ArrayBuffer input (the browser binaryType) decodes too', () => {
    const r = decodeServerMessage(frame.slice().buffer);
    expect(r.ok && arb.sameMessage(r.msg, msg)).toBe(true);
  });

  test('decoding does not modify the caller\'s Uint8Array object', () => {
    const input = frame.slice();
    decodeServerMessage(input);
    expect(Object.keys(input).filter((k) => !/^\d+$/.test(k))).toEqual([]); // no msgpackr `dataView` property
  });
});

function sameMessageOrDiff(actual: unknown, expected: unknown): boolean {
  const same = arb.sameMessage(actual, expected);
  if (!same) expect(actual).toEqual(expected); // shows the difference
  return same;
}
