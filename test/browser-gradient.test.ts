// A browser worker's gradient is the Node worker's, bit for bit. A scripted
// coordinator (this test) serves the real join page and sends a real browser
// the same run, parameters and tasks as a Node worker's engine
// (NodeTaskEngine, 1 thread) computes here; the gradient frames must match
// byte for byte — tree nodes, loss sums and gradient blocks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { createModel, Rng, type ModelSpec } from '@gradmesh/core';
import { batchIndices, encodeDatasetBinary, spirals } from '@gradmesh/data';
import { PROTOCOL_VERSION, type GradientMessage, type RunInfo, type ServerMessage, type TaskMessage } from '@gradmesh/protocol';
import { NodeTaskEngine } from '@gradmesh/worker';
import { runBrowserTests, launchBrowser, watchProblems } from './helpers/browser.js';
import { startScriptPlayer, type ScriptedCoordinator } from './helpers/browser-scripted.js';

const TOKEN = 'bit-for-bit';
const BATCH = 96;
const MICRO = 8; // 12 micro-batches: unaligned ranges give several tree nodes per task
// Every activation with a transcendental (tanh, sigmoid, softmax's exp and log) is on the path.
const SPEC: ModelSpec = {
  inputs: 2,
  layers: [
    { units: 24, activation: 'tanh' },
    { units: 16, activation: 'sigmoid' },
    { units: 12, activation: 'leaky_relu' },
    { units: 3, activation: 'softmax' },
  ],
  loss: 'softmax_xent',
};

const bytesOf = (a: ArrayBufferView): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe.runIf(runBrowserTests())('browser gradients', () => {
  let browser: Browser;
  let coord: ScriptedCoordinator | null = null;

  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await coord?.close();
  });

  it("equal the Node worker's bit for bit", async () => {
    const dataset = spirals();
    const model = createModel(SPEC);
    const p1 = new Float32Array(model.paramCount);
    model.initParams(p1, new Rng(11));
    // A second parameter version, off the initialisation's grid.
    const p2 = p1.map((v, i) => v + 0.01 * Math.sin(i * 0.37));
    const { indices: order } = batchIndices(dataset.train.n, BATCH, 3, 0);
    const task = (taskId: number, paramsVersion: number, mbLo: number, mbHi: number): TaskMessage => ({
      type: 'task',
      step: taskId,
      taskId,
      paramsVersion,
      batch: BATCH,
      mbLo,
      mbHi,
      indices: order.slice(mbLo * MICRO, mbHi * MICRO),
    });
    const script: ServerMessage[] = [
      { type: 'params', version: 1, params: p1 },
      task(1, 1, 1, 7), // unaligned: several nodes
      task(2, 1, 0, 12), // the whole batch: the root node
      { type: 'params', version: 2, params: p2 },
      task(3, 2, 5, 12),
      task(4, 2, 3, 4), // one micro-batch
    ];
    const tasks = script.filter((m): m is TaskMessage => m.type === 'task');

    const runAt = (base: string): RunInfo => ({
      runId: 'bitforbit',
      dataset: dataset.name,
      datasetUrl: `${base}/dataset.bin`,
      spec: SPEC as unknown as Record<string, unknown>,
      paramCount: model.paramCount,
      batch: BATCH,
      microBatch: MICRO,
      seed: 3,
    });
    coord = await startScriptPlayer({ token: TOKEN, datasetBytes: encodeDatasetBinary(dataset), run: runAt, script });
    const run = runAt(coord.base);

    const page = await browser.newPage();
    const problems = watchProblems(page);
    await page.goto(`${coord.joinUrl}&name=grad-check`);
    const hello = await coord.next((m) => m.type === 'hello');
    expect(hello).toMatchObject({ protocol: PROTOCOL_VERSION, name: 'grad-check', kind: 'browser', threads: 1 });

    // The Node worker's engine on the same run (it downloads the same dataset from this server).
    const node = new NodeTaskEngine(1, TOKEN);
    await node.setup(run);
    const expected = new Map<number, { nodes: Buffer; losses: Buffer; grad: Buffer; samples: number }>();
    for (const m of script) {
      if (m.type === 'params') node.setParams(m.version, m.params);
      else if (m.type === 'task') {
        const r = await node.compute(m);
        expected.set(m.taskId, { nodes: Buffer.from(bytesOf(r.nodes)), losses: Buffer.from(bytesOf(r.losses)), grad: Buffer.from(bytesOf(r.grad)), samples: r.samples });
      }
    }
    await node.close();

    const gradients = new Map<number, GradientMessage>();
    for (const t of tasks) gradients.set(t.taskId, (await coord.next((m) => m.type === 'gradient' && m.taskId === t.taskId)) as GradientMessage);
    expect(coord.received.filter((r) => r.msg.type === 'error')).toEqual([]);
    for (const t of tasks) {
      const got = gradients.get(t.taskId)!;
      const want = expected.get(t.taskId)!;
      expect(got.samples, `task ${t.taskId} samples`).toBe(want.samples);
      expect(bytesOf(got.nodes).equals(want.nodes), `task ${t.taskId} tree nodes`).toBe(true);
      expect(bytesOf(got.losses).equals(want.losses), `task ${t.taskId} loss sums`).toBe(true);
      expect(got.grad.length).toBe(want.grad.byteLength / 4);
      expect(bytesOf(got.grad).equals(want.grad), `task ${t.taskId} gradient bytes`).toBe(true);
    }
    // Not vacuous: several tree nodes for the unaligned range, the root for the whole batch, real numbers.
    expect(gradients.get(1)!.nodes.length).toBeGreaterThan(2);
    expect(Array.from(gradients.get(2)!.nodes)).toEqual([0, 12]);
    expect(gradients.get(2)!.grad.some((v) => v !== 0)).toBe(true);
    await page.waitForFunction(() => document.querySelector('#state')?.textContent === 'finished');
    expect(await page.textContent('#steps')).toBe(String(tasks.length));
    expect(problems).toEqual([]);
    await page.close();
  });
});
