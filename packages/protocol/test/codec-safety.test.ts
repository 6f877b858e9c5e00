import { Packr } from 'msgpackr';
import { afterEach, describe, expect, test } from 'vitest';
import { decode, decodeServerMessage, encode, unpackFrame } from '../src/index.js';

/** Hand-built MessagePack, so nothing in JS gets a chance to interpret `__proto__` first. */
const str = (s: string) => [0xa0 | s.length, ...new TextEncoder().encode(s)];
const map = (...entries: number[][][]) => [0x80 | entries.length, ...entries.flat(2)];

afterEach(() => {
  // Clean up if a test failed after polluting, so one failure does not cascade.
  delete (Object.prototype as Record<string, unknown>).polluted;
});

describe('__proto__ and other prototype tricks', () => {
  const pollute = map([str('__proto__'), map([str('polluted'), [0xc3]])]);

  test('a __proto__ key neither pollutes Object.prototype nor sets the decoded object\'s prototype', () => {
    const r = unpackFrame(Uint8Array.from(pollute));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const value = r.msg as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(value.polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // msgpackr renames the key rather than dropping it
    expect(Object.keys(value)).toEqual(['__proto_']);
  });

  test('and the schema rejects the renamed key as an unknown field', () => {
    const hello = map(
      [str('type'), str('hello')], [str('protocol'), [1]], [str('name'), str('w')],
      [str('kind'), str('node')], [str('threads'), [2]], [str('__proto__'), map([str('polluted'), [0xc3]])],
    );
    const r = decode(Uint8Array.from(hello));
    expect(r.ok).toBe(false);
    expect(r.ok || r.message).toMatch(/hello: unknown field '__proto_'/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test('a __proto__ key inside welcome.spec (an open object) stays harmless', () => {
    const run = map(
      [str('runId'), str('r')], [str('dataset'), str('xor')], [str('datasetUrl'), [0xc0]],
      [str('spec'), map([str('__proto__'), map([str('polluted'), [0xc3]])], [str('constructor'), map([str('prototype'), map([str('polluted'), [0xc3]])])])],
      [str('paramCount'), [9]], [str('batch'), [4]], [str('microBatch'), [1]], [str('seed'), [7]],
    );
    const welcome = map([str('type'), str('welcome')], [str('workerId'), str('w1')], [str('run'), run]);
    const r = decodeServerMessage(Uint8Array.from(welcome));
    expect(r.ok).toBe(true);
    if (!r.ok || r.msg.type !== 'welcome') return;
    const spec = r.msg.run.spec;
    expect(Object.getPrototypeOf(spec)).toBe(Object.prototype);
    expect((spec as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype.constructor).toBe(Object);
  });

  test('a JSON.parse object with an own __proto__ key round-trips through encode without polluting', () => {
    const spec = JSON.parse('{"__proto__": {"polluted": true}, "inputs": 2}') as Record<string, unknown>;
    const frame = encode({
      type: 'welcome', workerId: 'w',
      run: { runId: 'r', dataset: 'd', datasetUrl: null, spec, paramCount: 1, batch: 1, microBatch: 1, seed: 0 },
    });
    const r = decodeServerMessage(frame);
    expect(r.ok).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    if (r.ok && r.msg.type === 'welcome') expect(Object.getPrototypeOf(r.msg.run.spec)).toBe(Object.prototype);
  });
});

describe('only plain MessagePack is accepted', () => {
  const trusting = new Packr({ structuredClone: true, moreTypes: true, useRecords: true });
  const cases: Record<string, unknown> = {
    Date: { type: 'done', reason: new Date(0) },
    Set: { type: 'done', reason: new Set(['x']) },
    RegExp: { type: 'done', reason: /a+/ },
    Error: { type: 'done', reason: new Error('x') },
    'typed array extension': { type: 'params', version: 1, params: new Float32Array(2) },
    'shared reference': (() => { const o = { a: 1 }; return { type: 'done', reason: [o, o] }; })(),
    record: [{ type: 'done', reason: 'a' }, { type: 'done', reason: 'b' }],
  };
  for (const [label, value] of Object.entries(cases)) {
    test(`${label} is refused as BAD_FRAME`, () => {
      const r = decode(trusting.pack(value));
      expect(r.ok).toBe(false);
      expect(r.ok || r.code).toBe('BAD_FRAME');
    });
  }
});
