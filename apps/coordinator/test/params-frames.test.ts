import { decodeServerMessage } from '@gradmesh/protocol';
import { expect, test } from 'vitest';
import { ParamsFrames } from '../src/coordinator/params-frames.js';

const msg = (version: number, fill: number) => ({ type: 'params' as const, version, params: new Float32Array(5000).fill(fill) });
const read = (f: Uint8Array) => {
  const r = decodeServerMessage(f.slice());
  if (!r.ok || r.msg.type !== 'params') throw new Error('bad frame');
  return [r.msg.version, r.msg.params[0]];
};

test('a params frame buffer is reused only once everyone it went to has written it out', () => {
  const frames = new ParamsFrames();
  let queued = 100;
  const slow = { queued: () => queued };
  const a = frames.encode(msg(1, 1), [slow]);
  expect(read(a)).toEqual([1, 1]);
  const b = frames.encode(msg(2, 2), [{ queued: () => 0 }]);
  expect(b.buffer).not.toBe(a.buffer); // a is still queued on a socket: untouched
  expect(read(a)).toEqual([1, 1]);
  expect(read(b)).toEqual([2, 2]);
  const c = frames.encode(msg(3, 3), []);
  expect(c.buffer).toBe(b.buffer); // b's only recipient is done: reused
  expect(read(c)).toEqual([3, 3]);
  queued = 0;
  const d = frames.encode(msg(4, 4), []);
  expect(d.buffer === a.buffer || d.buffer === c.buffer).toBe(true);
  expect(read(d)).toEqual([4, 4]);
  expect(frames.size).toBe(2);
  // A larger message outgrows a buffer: a fresh one takes its place.
  const big = frames.encode({ type: 'params', version: 5, params: new Float32Array(9000).fill(5) }, []);
  expect(read(big)).toEqual([5, 5]);
  expect(frames.size).toBe(2);
  // Slow readers everywhere: no more than a few buffers are kept.
  for (let i = 0; i < 10; i++) frames.encode(msg(6 + i, i), [{ queued: () => 1 }]);
  expect(frames.size).toBeLessThanOrEqual(4);
});
