// Raw worker_threads: echoes every message (postMessage round trip), or, given
// a SharedArrayBuffer, answers Atomics.notify pings (the shared-memory floor).
import { parentPort } from 'node:worker_threads';

parentPort.on('message', (m) => {
  if (m && m.sab) {
    const flag = new Int32Array(m.sab);
    // flag[0]: request counter written by the main thread; flag[1]: reply counter.
    for (let seen = 0; seen < m.count; ) {
      Atomics.wait(flag, 0, seen);
      seen = Atomics.load(flag, 0);
      Atomics.store(flag, 1, seen);
      Atomics.notify(flag, 1);
    }
    return;
  }
  parentPort.postMessage(m);
});
