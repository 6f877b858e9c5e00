import { expect, test } from 'vitest';
import { ParamsFrames } from '../src/coordinator/params-frames.js';

test('a params snapshot is a copy, reused only once everyone it went to has written it out', () => {
  const frames = new ParamsFrames();
  const p = Float32Array.of(1, 2, 3);
  let queued = 100;
  const slow = { queued: () => queued };
  const a = frames.take(p, [slow]);
  expect(a).toEqual(p);
  expect(a).not.toBe(p);
  p[0] = 5;
  expect(a[0]).toBe(1); // the params moved on; the snapshot did not
  const b = frames.take(p, [{ queued: () => 0 }]);
  expect(b).not.toBe(a); // a is still queued on a socket: untouched
  expect(a[0]).toBe(1);
  expect(b[0]).toBe(5);
  const c = frames.take(p, []);
  expect(c).toBe(b); // b's only recipient is done: reused
  queued = 0;
  p[1] = 7;
  const d = frames.take(p, []);
  expect(d === a || d === c).toBe(true);
  expect(d[1]).toBe(7);
  expect(frames.size).toBe(2);
  // Slow readers everywhere: no more than a few snapshots are kept.
  for (let i = 0; i < 10; i++) frames.take(p, [{ queued: () => 1 }]);
  expect(frames.size).toBeLessThanOrEqual(4);
});
