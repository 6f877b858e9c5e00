import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, test } from 'vitest';
import { decode, decodeClientMessage, decodeServerMessage, encode, type DecodeResult } from '../src/index.js';
import * as arb from './arbitraries.js';

const decoders = [decode, decodeClientMessage, decodeServerMessage] as const;
const FAILURE_CODES = ['BAD_FRAME', 'BAD_MESSAGE', 'PROTOCOL_MISMATCH'];

/** Decoding never throws; a failure is always a typed code and a one-line message. */
function expectTyped(result: DecodeResult<unknown>): void {
  if (result.ok) return;
  expect(FAILURE_CODES).toContain(result.code);
  expect(result.message).toMatch(/^[^\n]+$/);
  expect(result.message.length).toBeLessThan(512);
}

function decodeAll(bytes: Uint8Array): void {
  for (const d of decoders) expectTyped(d(bytes));
}

describe('fuzzed decode never throws and always answers with a typed error', () => {
  test('10,000 random byte strings', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        for (const d of decoders) {
          const r = d(bytes);
          expectTyped(r);
        }
      }),
      { numRuns: 10_000 },
    );
  });

  test('random byte strings that start like a map (deeper into the decoder)', () => {
    fc.assert(
      fc.property(fc.constantFrom(0x81, 0x83, 0x85, 0x87, 0xde), fc.uint8Array({ maxLength: 128 }), (head, tail) => {
        const bytes = new Uint8Array(tail.length + 1);
        bytes[0] = head;
        bytes.set(tail, 1);
        decodeAll(bytes);
      }),
      { numRuns: 5_000 },
    );
  });

  test('structured garbage: arbitrary values packed by a trusting msgpackr (records, clones, extensions)', () => {
    const trusting = new Packr({ structuredClone: true, useRecords: true, moreTypes: true });
    const value = fc.oneof(
      fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withNullPrototype: true }),
      fc.record({ type: fc.constantFrom('hello', 'gradient', 'task', 'params', 'welcome', 'error'), x: fc.anything() }),
    );
    fc.assert(
      fc.property(value, (v) => {
        let bytes: Uint8Array;
        try {
          bytes = trusting.pack(v);
        } catch {
          return; // not every value is packable; that is msgpackr's concern
        }
        decodeAll(bytes);
      }),
      { numRuns: 3_000 },
    );
  });

  test('valid frames, truncated or with bytes flipped', () => {
    fc.assert(
      fc.property(arb.anyMessage, fc.nat(), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), (msg, cut, flips) => {
        const frame = encode(msg).slice();
        decodeAll(frame.subarray(0, cut % frame.length)); // every strict prefix
        for (const [at, value] of flips) frame[at % frame.length] = value;
        decodeAll(frame);
      }),
      { numRuns: 3_000 },
    );
  });

  test('hostile headers: huge lengths, huge containers, deep nesting, extensions', () => {
    const cases: Record<string, number[]> = {
      empty: [],
      'bin32 of 4 GiB': [0xc6, 0xff, 0xff, 0xff, 0xff, 1, 2, 3],
      'str32 of 4 GiB': [0xdb, 0xff, 0xff, 0xff, 0xff],
      'array32 of 4 billion': [0xdd, 0xff, 0xff, 0xff, 0xff, 0],
      'map32 of 4 billion': [0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x61, 0],
      'ext32 of 4 GiB': [0xc9, 0xff, 0xff, 0xff, 0xff, 0x74],
      'record definition': [0xd4, 0x72, 0x00],
      'never-used 0xc1': [0xc1],
      'timestamp extension': [0xd6, 0xff, 0, 0, 0, 1],
      'trailing byte': [0x80, 0x00],
      'non-string key': [0x81, 0x01, 0x02],
      'map key is a map': [0x81, 0x80, 0x02],
    };
    for (const [label, bytes] of Object.entries(cases)) {
      const r = decode(Uint8Array.from(bytes));
      expect(r.ok, label).toBe(false);
      expect(r.ok || r.code, label).toBe('BAD_FRAME');
    }
    const deep = new Uint8Array(1_000_000).fill(0x91); // [[[[...]]]] a million deep
    const r = decode(deep);
    expect(r.ok || r.code).toBe('BAD_FRAME');
    expect(r.ok || r.message).toMatch(/nested deeper/);
  });

  test('non-binary input is BAD_FRAME, not a throw', () => {
    for (const input of ['text frame', null, undefined, 42, {}, [1, 2], new Uint16Array(2)]) {
      const r = decode(input as unknown as Uint8Array);
      expect(r.ok || r.code).toBe('BAD_FRAME');
    }
  });
});
