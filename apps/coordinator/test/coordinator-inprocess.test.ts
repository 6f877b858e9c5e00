import { expect, test } from 'vitest';
import { LocalEngine, packNodes } from '@gradmesh/engine';
import { decodeServerMessage, type ServerMessage } from '@gradmesh/protocol';
import { Coordinator, type WorkerHandle } from '../src/coordinator/coordinator.js';
import { B, MB, ds, plan, reference, setup, spec } from './spirals-run.js';

const STEPS = 12;

/** A worker in this process: computes tasks with LocalEngine, or misbehaves as told. */
function fakeWorker(c: () => Coordinator, id: () => string, behave: (taskId: number, step: number) => 'ok' | 'fail' | 'silent', computeMs: (step: number, samples: number) => number = () => 1) {
  const { model } = setup();
  const engine = new LocalEngine(model, ds.train);
  // One task at a time, in order, like the real client (an engine's result is valid until its next compute).
  let chain = Promise.resolve();
  const handle: WorkerHandle = {
    send: (msg: ServerMessage) => {
      if (msg.type === 'params') engine.setParams(msg.version, msg.params.slice());
      if (msg.type !== 'task') return;
      const how = behave(msg.taskId, msg.step);
      chain = chain.then(async () => {
        if (how === 'silent') return;
        if (how === 'fail') return c().taskFailed(id(), msg.taskId);
        const r = await engine.compute({ step: msg.step, batch: msg.batch, microBatch: MB, mbLo: msg.mbLo, mbHi: msg.mbHi, indices: msg.indices.slice() });
        const packed = packNodes(r.nodes, model.paramCount);
        const code = c().gradient(id(), { type: 'gradient', step: msg.step, taskId: msg.taskId, samples: r.samples, computeMs: computeMs(msg.step, r.samples), nodes: packed.nodes, losses: packed.losses, grad: packed.grad.slice() });
        if (code) throw new Error(`gradient refused: ${code}`);
      });
    },
    close: () => {},
  };
  return handle;
}

/** A coordinator for the spirals run with `params` and `optimizer` from setup(). */
function makeCoord(params: Float32Array, optimizer: ReturnType<typeof setup>['optimizer'], o: { totalSteps: number; minWorkers: number; deadlineFloorMs?: number }): Coordinator {
  return new Coordinator({
    run: { runId: 'r', dataset: 'spirals', datasetUrl: null, spec: spec as never, paramCount: params.length, batch: B, microBatch: MB, seed: 1 },
    params,
    optimizer,
    plan,
    startStep: 0,
    ...o,
  });
}

/** Joins every handle as a one-thread Node worker; their ids go into `ids`, in order. */
function joinAll(coord: Coordinator, handles: WorkerHandle[], ids: string[]): void {
  for (const h of handles) ids.push(coord.join(h, { type: 'hello', protocol: 1, name: 'w', kind: 'node', threads: 1 }).id);
}

/** Micro-batches assigned to each worker (in `ids` order) at `step`. */
function sharesAt(coord: Coordinator, ids: string[], step: number): number[] {
  return ids.map((id) => coord.ledger.entries.filter((e) => e.step === step && e.worker === id && e.status === 'assigned').reduce((n, e) => n + e.mbHi - e.mbLo, 0));
}

/**
 * One worker per `msPer` entry, each reporting msPer(step) ms per sample, runs `totalSteps` steps:
 * the micro-batches each got at a step, the step's micro-batch count, and the run's parameters.
 */
async function runWithSpeeds(totalSteps: number, msPer: Array<(step: number) => number>): Promise<{ counts: (step: number) => number[]; m: number; params: Float32Array }> {
  const { params, optimizer } = setup();
  const coord: Coordinator = makeCoord(params, optimizer, { totalSteps, minWorkers: msPer.length, deadlineFloorMs: 60_000 });
  const ids: string[] = [];
  const handles = msPer.map((f, i) => fakeWorker(() => coord, () => ids[i]!, () => 'ok', (step, samples) => f(step) * samples));
  joinAll(coord, handles, ids);
  await coord.run();
  return { counts: (step) => sharesAt(coord, ids, step), m: Math.ceil(B / MB), params };
}

/** The run's parameters are single-process training's after `steps` steps, bit for bit. */
async function expectReference(params: Float32Array, steps: number): Promise<void> {
  const ref = await reference(steps);
  expect(new Uint8Array(params.buffer)).toEqual(new Uint8Array(ref.buffer));
}

test('a worker that reports a task failed, and one that goes silent, cost no samples and change no bits', { timeout: 20_000 }, async () => {
  const { params, optimizer } = setup();
  const coord: Coordinator = makeCoord(params, optimizer, { totalSteps: STEPS, minWorkers: 3, deadlineFloorMs: 50 });
  const ids: string[] = [];
  const handles = [
    fakeWorker(() => coord, () => ids[0]!, () => 'ok'),
    fakeWorker(() => coord, () => ids[1]!, (_t, step) => (step % 3 === 1 ? 'fail' : 'ok')),
    fakeWorker(() => coord, () => ids[2]!, (_t, step) => (step >= 4 ? 'silent' : 'ok')),
  ];
  joinAll(coord, handles, ids);
  const t0 = Date.now();
  await coord.run();
  // The silent worker costs one deadline (it stays out until its overdue result returns), not one per step.
  expect(Date.now() - t0).toBeLessThan(50 * 4 + 1000);
  await expectReference(params, STEPS);
  const done = coord.ledger.entries.filter((e) => e.status === 'done');
  for (let s = 0; s < STEPS; s++) {
    const covered = done.filter((e) => e.step === s).reduce((n, e) => n + e.mbHi - e.mbLo, 0);
    expect(covered).toBe(Math.ceil(plan(s).indices.length / MB));
  }
  expect(coord.ledger.entries.some((e) => e.status === 'lost')).toBe(true);
  expect(coord.ledger.entries.some((e) => e.status === 'reassigned')).toBe(true);
});

test('one slow task does not move the next split: shares follow the median of recent speeds', { timeout: 20_000 }, async () => {
  // Two equally fast workers (1 ms per sample); the first is 3× slower at step 5 only, and
  // from step 7 on the second is twice as fast for good.
  const { counts, m, params } = await runWithSpeeds(14, [(step) => (step === 5 ? 3 : 1), (step) => (step >= 7 ? 0.5 : 1)]);
  expect(counts(6)).toEqual([m / 2, m / 2]); // the spike at step 5 is ignored
  // A lasting change does move it, once it is most of the recent measurements (3 of 5).
  expect(counts(8)).toEqual([m / 2, m / 2]);
  const later = counts(12);
  expect(later[1]!).toBeGreaterThan(later[0]!);
  await expectReference(params, 14);
});

test("a step's callback runs while the next step computes: its tasks are out first, and the callback still sees that step's parameters", { timeout: 20_000 }, async () => {
  const { params, optimizer } = setup();
  const coord: Coordinator = makeCoord(params, optimizer, { totalSteps: 6, minWorkers: 1 });
  const ids: string[] = [];
  joinAll(coord, [fakeWorker(() => coord, () => ids[0]!, () => 'ok')], ids);
  const seen: Array<{ step: number; nextAssigned: boolean; sha: string }> = [];
  await coord.run(async (r) => {
    const nextAssigned = coord.ledger.entries.some((e) => e.step === r.step + 1 && e.status === 'assigned');
    seen.push({ step: r.step, nextAssigned, sha: Buffer.from(params.buffer).toString('base64').slice(0, 64) });
    await new Promise((res) => setTimeout(res, 5)); // an asynchronous callback does not hold the run up either
  });
  expect(seen.map((s) => s.step)).toEqual([0, 1, 2, 3, 4, 5]);
  expect(seen.map((s) => s.nextAssigned)).toEqual([true, true, true, true, true, false]);
  // The parameters each callback saw (before it awaited) are the reference run's after that step.
  for (const s of seen) {
    const ref = await reference(s.step + 1);
    expect(s.sha).toBe(Buffer.from(ref.buffer).toString('base64').slice(0, 64));
  }
});

test('a callback that throws ends the run with its error, and the step already under way stops with it', { timeout: 20_000 }, async () => {
  const { params, optimizer } = setup();
  const coord = makeCoord(params, optimizer, { totalSteps: 50, minWorkers: 1 });
  const ids: string[] = [];
  joinAll(coord, [fakeWorker(() => coord, () => ids[0]!, () => 'ok')], ids);
  await expect(
    coord.run((r) => {
      if (r.step === 2) throw new Error('disk full');
    }),
  ).rejects.toThrow('disk full');
  const stepAtError = coord.step;
  await new Promise((res) => setTimeout(res, 100));
  expect(coord.step).toBe(stepAtError); // nothing kept training behind the error
  expect(Math.max(...coord.ledger.entries.map((e) => e.step))).toBeLessThanOrEqual(3);
});

test("a step's parameters and its tasks leave together: no flush between them, one after the tasks", { timeout: 20_000 }, async () => {
  const { params, optimizer } = setup();
  const coord = makeCoord(params, optimizer, { totalSteps: 5, minWorkers: 2 });
  const ids: string[] = [];
  const log: string[][] = [[], []];
  const handles = [0, 1].map((i) => {
    const inner = fakeWorker(() => coord, () => ids[i]!, () => 'ok');
    const h: WorkerHandle = {
      send: (msg) => {
        log[i]!.push(msg.type);
        inner.send(msg);
      },
      // As the server's handle: the encoded frame is what goes out.
      sendEncoded: (bytes) => {
        const r = decodeServerMessage(bytes);
        if (!r.ok) throw new Error(r.message);
        h.send(r.msg);
      },
      flush: () => log[i]!.push('flush'),
      close: () => {},
    };
    return h;
  });
  joinAll(coord, handles, ids);
  await coord.run();
  for (const l of log) {
    // Every step: its parameters (sent on joining, then after each step), its task, one flush.
    const seq = l.join(' ');
    expect(seq.match(/params task flush/g)?.length).toBe(5);
    expect(seq).not.toMatch(/params flush/);
    expect(seq).toMatch(/flush params$/); // the last parameters: the real handle writes them out after this turn
  }
  await expectReference(params, 5);
});

test('a worker that went silent and then left leaves no task behind: its assignments are forgotten, not kept for good', { timeout: 20_000 }, async () => {
  const { params, optimizer } = setup();
  const coord = makeCoord(params, optimizer, { totalSteps: 8, minWorkers: 3, deadlineFloorMs: 50 });
  const ids: string[] = [];
  const handles = [
    fakeWorker(() => coord, () => ids[0]!, () => 'ok'),
    fakeWorker(() => coord, () => ids[1]!, () => 'ok'),
    fakeWorker(() => coord, () => ids[2]!, (_t, step) => (step >= 2 ? 'silent' : 'ok')),
  ];
  joinAll(coord, handles, ids);
  await coord.run((r) => {
    if (r.step === 4) coord.leave(ids[2]!, 'connection closed');
  });
  expect(coord.ledger.entries.some((e) => e.worker === ids[2] && e.status === 'reassigned')).toBe(true);
  expect(coord.outstandingTasks).toBe(0);
  await expectReference(params, 8);
});

test("a worker whose third task in a row fails leaves the run, and that task's micro-batches go to the others", { timeout: 20_000 }, async () => {
  const { params, optimizer } = setup();
  const coord = makeCoord(params, optimizer, { totalSteps: 8, minWorkers: 2, deadlineFloorMs: 60_000 });
  const ids: string[] = [];
  const handles = [
    fakeWorker(() => coord, () => ids[0]!, () => 'ok'),
    fakeWorker(() => coord, () => ids[1]!, (_t, step) => (step >= 2 ? 'fail' : 'ok')),
  ];
  joinAll(coord, handles, ids);
  // The deadline is a minute away: a range lost with the failing worker would hold the run up past the test's timeout.
  await coord.run();
  const lost = coord.ledger.entries.filter((e) => e.worker === ids[1] && e.status === 'lost');
  expect(lost.length).toBeGreaterThanOrEqual(3);
  expect(coord.outstandingTasks).toBe(0);
  await expectReference(params, 8);
});

test("a new worker's cold first tasks do not starve it: it keeps a share until three tasks are measured, then the median takes over", { timeout: 20_000 }, async () => {
  // Equally fast workers (1 ms per sample), but the second one's first task runs 30× slower (cold:
  // JIT, first allocations), enough for a split by speed to give it none of the 8 micro-batches.
  const { counts, m, params } = await runWithSpeeds(8, [() => 1, (step) => (step < 1 ? 30 : 1)]);
  // Without the floor it got nothing from step 1 on, and nothing measured it again until step 25.
  for (let step = 0; step < 8; step++) expect(counts(step)[1], `step ${step}`).toBeGreaterThan(0);
  // Once the cold measurement is outvoted (2 of the last 3 fast), equal shares again.
  for (let step = 4; step < 8; step++) expect(counts(step), `step ${step}`).toEqual([m / 2, m / 2]);
  await expectReference(params, 8);
});

test('a worker split out of the batch while it was slow gets its share back from the first fast probe, not three probes later', { timeout: 20_000 }, async () => {
  // The second worker is 30× slower until step 20 (a busy machine), enough for a split by speed to give it
  // nothing; only the probe at step 25 measures it again.
  const { counts, m, params } = await runWithSpeeds(28, [() => 1, (step) => (step < 20 ? 30 : 1)]);
  for (let step = 4; step < 25; step++) expect(counts(step)[1], `step ${step}`).toBe(0);
  expect(counts(25)[1]).toBeGreaterThan(0); // the probe
  // Its one fast measurement outweighs the stale slow ones (their median would keep it out until step 75).
  for (let step = 26; step < 28; step++) expect(counts(step), `step ${step}`).toEqual([m / 2, m / 2]);
  await expectReference(params, 28);
});
