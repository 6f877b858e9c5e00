// A browser worker in a compressed run holds the parameters and sends the
// gradients a Node worker would, bit for bit: a scripted coordinator (this
// test) sends the real join page full parameters, then quantized deltas made
// by the coordinator's own ParamsView, and tasks; a Node worker's engine and
// the client's WorkerCompression, fed the same frames here, must produce the
// same encoded gradient bytes — so decoding (deltas), the error-feedback
// residual and encoding agree between the two engines.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { createModel, Rng, type ModelSpec } from '@gradmesh/core';
import { batchIndices, encodeDatasetBinary, spirals } from '@gradmesh/data';
import { WorkerCompression } from '@gradmesh/client';
import { decodeServerMessage, encode, gradientFields, type Compression, type GradientMessage, type RunInfo, type ServerMessage, type TaskMessage } from '@gradmesh/protocol';
import { NodeTaskEngine } from '@gradmesh/worker';
import { ParamsView } from '../apps/coordinator/src/coordinator/compression.js';
import { runBrowserTests, launchBrowser, watchProblems } from './helpers/browser.js';
import { startScriptPlayer, type ScriptedCoordinator } from './helpers/browser-scripted.js';

const TOKEN = 'compressed-bits';
const BATCH = 96;
const MICRO = 8; // 12 micro-batches: unaligned ranges give several tree nodes per task
const SPEC: ModelSpec = { inputs: 2, layers: [{ units: 300, activation: 'tanh' }, { units: 3, activation: 'softmax' }], loss: 'softmax_xent' };
const bytesOf = (a: ArrayBufferView): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Full parameters, then a delta per version (each params version moved off the last), tasks in between. */
function script(kind: Exclude<Compression, 'none'>, p1: Float32Array): ServerMessage[] {
  const { indices: order } = batchIndices(spirals().train.n, BATCH, 3, 0);
  const task = (taskId: number, paramsVersion: number, mbLo: number, mbHi: number): TaskMessage => ({
    type: 'task', step: taskId, taskId, paramsVersion, batch: BATCH, mbLo, mbHi, indices: order.slice(mbLo * MICRO, mbHi * MICRO),
  });
  const params = p1.slice();
  const view = new ParamsView(kind, params);
  const out: ServerMessage[] = [{ type: 'params', version: 1, params: view.view.slice() }, task(1, 1, 1, 7)];
  for (let v = 2; v <= 4; v++) {
    for (let i = 0; i < params.length; i++) params[i] += 0.01 * Math.sin(i * 0.37 + v);
    out.push(decodeOrThrow(view.advance(params, v - 1, v)), task(v, v, (v * 3) % 8, 12));
  }
  return out;
}

/** Through the codec: a copy the next ParamsView.advance does not overwrite. */
function decodeOrThrow(msg: ServerMessage): ServerMessage {
  const r = decodeServerMessage(encode(msg).slice());
  if (!r.ok) throw new Error(r.message);
  return r.msg;
}

/** What a Node worker sends for the script: its engine at the parameters WorkerCompression holds. */
async function nodeGradients(kind: Exclude<Compression, 'none'>, run: RunInfo, messages: ServerMessage[]): Promise<Map<number, GradientMessage>> {
  const engine = new NodeTaskEngine(1, TOKEN);
  await engine.setup(run);
  const codec = new WorkerCompression(kind, run.paramCount);
  const out = new Map<number, GradientMessage>();
  for (const m of messages) {
    if (m.type === 'params') engine.setParams(m.version, codec.adopt(m.version, m.params));
    if (m.type === 'paramsDelta') {
      const held = codec.applyDelta(m);
      if (typeof held === 'string') throw new Error(held);
      engine.setParams(m.version, held);
    }
    if (m.type !== 'task') continue;
    const r = await engine.compute(m);
    const fields = structuredClone(gradientFields(codec.encode(r.grad, r.nodes.length / 2)));
    out.set(m.taskId, { type: 'gradient', step: m.step, taskId: m.taskId, samples: r.samples, computeMs: 0, nodes: r.nodes.slice(), losses: r.losses.slice(), ...fields });
  }
  await engine.close();
  return out;
}

describe.runIf(runBrowserTests())('browser workers in a compressed run', () => {
  let browser: Browser;
  const coords: ScriptedCoordinator[] = [];

  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    for (const c of coords) await c.close();
  });

  it.each<Exclude<Compression, 'none'>>(['fp16', 'int8'])("%s: the browser's encoded gradients equal the Node worker's, byte for byte", async (kind) => {
    const dataset = spirals();
    const model = createModel(SPEC);
    const p1 = new Float32Array(model.paramCount);
    model.initParams(p1, new Rng(11));
    const messages = script(kind, p1);
    const tasks = messages.filter((m): m is TaskMessage => m.type === 'task');
    const runAt = (base: string): RunInfo => ({
      runId: `compressed-${kind}`, dataset: dataset.name, datasetUrl: `${base}/dataset.bin`, spec: SPEC as unknown as Record<string, unknown>,
      paramCount: model.paramCount, batch: BATCH, microBatch: MICRO, seed: 3, compress: kind,
    });
    const coord = await startScriptPlayer({ token: TOKEN, datasetBytes: encodeDatasetBinary(dataset), run: runAt, script: messages });
    coords.push(coord);
    const run = runAt(coord.base);
    const page = await browser.newPage();
    const problems = watchProblems(page);
    await page.goto(`${coord.joinUrl}&name=compressed`);
    const want = await nodeGradients(kind, run, messages);

    const fields = kind === 'fp16' ? (['gradF16'] as const) : (['gradI8', 'gradScale'] as const);
    for (const t of tasks) {
      const got = (await coord.next((m) => m.type === 'gradient' && m.taskId === t.taskId)) as GradientMessage;
      const w = want.get(t.taskId)!;
      expect(got.grad, 'float32 gradient in a compressed run').toBeUndefined();
      expect(bytesOf(got.nodes).equals(bytesOf(w.nodes)), `task ${t.taskId} tree nodes`).toBe(true);
      for (const f of fields) expect(bytesOf(got[f]!).equals(bytesOf(w[f]!)), `task ${t.taskId} ${f}`).toBe(true);
    }
    expect(coord.received.filter((r) => r.msg.type === 'error')).toEqual([]);
    // Not vacuous: several nodes for the unaligned first task, and more values than one int8 block per node.
    expect(want.get(1)!.nodes.length).toBeGreaterThan(2);
    expect(model.paramCount).toBeGreaterThan(256);
    await page.waitForFunction(() => document.querySelector('#state')?.textContent === 'finished');
    expect(problems).toEqual([]);
    await page.close();
  });
});
