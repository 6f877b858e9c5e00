// The join page's life: it reconnects after a dropped connection (and says
// so), stops when asked, and leaves cleanly when the tab goes away.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { createModel, Rng, type ModelSpec } from '@gradmesh/core';
import { encodeDatasetBinary, spirals } from '@gradmesh/data';
import type { RunInfo, ServerMessage, TaskMessage } from '@gradmesh/protocol';
import { runBrowserTests, launchBrowser, watchProblems } from './helpers/browser.js';
import { startScriptedCoordinator, type ScriptedConnection, type ScriptedCoordinator } from './helpers/browser-scripted.js';

const TOKEN = 'lifecycle';
const SPEC: ModelSpec = { inputs: 2, layers: [{ units: 8, activation: 'relu' }, { units: 3, activation: 'softmax' }], loss: 'softmax_xent' };
const dataset = spirals();
const model = createModel(SPEC);
const params = new Float32Array(model.paramCount);
model.initParams(params, new Rng(1));

const task = (taskId: number): TaskMessage => ({ type: 'task', step: taskId, taskId, paramsVersion: 1, batch: 32, mbLo: 0, mbHi: 1, indices: Uint32Array.from({ length: 32 }, (_, i) => (i * 7 + taskId) % dataset.train.n) });

/** A scripted coordinator that welcomes every connection to the same run and gives it one task per call of `give`. */
async function scripted(onGradient: (conn: ScriptedConnection, taskId: number) => void): Promise<ScriptedCoordinator> {
  let run!: RunInfo;
  const coord = await startScriptedCoordinator({
    token: TOKEN,
    datasetBytes: encodeDatasetBinary(dataset),
    onMessage: (conn, msg) => {
      if (msg.type === 'hello') {
        const first: ServerMessage[] = [{ type: 'welcome', workerId: `w${conn.n}`, run }, { type: 'params', version: 1, params }, task(conn.n * 100 + 1)];
        for (const m of first) conn.send(m);
      } else if (msg.type === 'gradient') onGradient(conn, msg.taskId);
    },
  });
  run = { runId: 'lifecycle', dataset: dataset.name, datasetUrl: `${coord.base}/dataset.bin`, spec: SPEC as unknown as Record<string, unknown>, paramCount: model.paramCount, batch: 32, microBatch: 32, seed: 1 };
  return coord;
}

describe.runIf(runBrowserTests())('join page', () => {
  let browser: Browser;
  let coord: ScriptedCoordinator | null = null;

  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterEach(async () => {
    await coord?.close();
    coord = null;
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('reconnects after a dropped connection and carries on with the same run', async () => {
    coord = await scripted((conn, taskId) => {
      // The first connection dies right after its first gradient; the second gets more work.
      if (conn.n === 1) conn.ws.terminate();
      else if (taskId < 205) conn.send(task(taskId + 1));
      else conn.send({ type: 'done', reason: 'enough' });
    });
    const page = await browser.newPage();
    const problems = watchProblems(page);
    await page.goto(coord.joinUrl);
    await page.waitForFunction(() => document.querySelector('#state')?.textContent === 'reconnecting', null, { polling: 10 });
    expect(await page.textContent('#headline')).toMatch(/^Connection lost; reconnecting \(attempt \d+\)…$/);
    await page.waitForFunction(() => document.querySelector('#state')?.textContent === 'finished');
    const hellos = coord.received.filter((r) => r.msg.type === 'hello');
    expect(hellos.map((r) => r.n)).toEqual([1, 2]);
    // Same run after the reconnect: the dataset was downloaded once.
    expect((await page.textContent('#log'))!.match(/dataset spirals: /g)).toHaveLength(1);
    expect(await page.textContent('#steps')).toBe('6'); // task 101, then 201..205
    expect(problems).toEqual([]);
    await page.close();
  });

  it('stops when asked and can join again', async () => {
    coord = await scripted(() => {}); // one task per connection, then silence
    const page = await browser.newPage();
    await page.goto(coord.joinUrl);
    await page.waitForFunction(() => document.querySelector('#steps')?.textContent === '1');
    await page.click('#stop');
    const leave = await coord.next((m) => m.type === 'leave');
    expect(leave).toEqual({ type: 'leave', reason: 'stopped by the person at this browser' });
    await page.waitForFunction(() => document.querySelector('#state')?.textContent === 'stopped');
    expect(await page.isVisible('#rejoin')).toBe(true);
    await page.click('#rejoin');
    await coord.next((m, n) => m.type === 'gradient' && n === 2);
    await page.waitForFunction(() => document.querySelector('#state')?.textContent === 'contributing');
    await page.close();
  });

  it('says so when the link carries a wrong token, instead of retrying forever', async () => {
    coord = await scripted(() => {});
    const page = await browser.newPage();
    await page.goto(`${coord.base}/join?token=not-the-token`);
    await page.waitForFunction(() => document.querySelector('#state')?.textContent === 'failed');
    expect(await page.textContent('#detail')).toContain('not the run’s token');
    expect(coord.received).toEqual([]);
    await page.close();
  });

  it('leaves the run when the tab is closed', async () => {
    coord = await scripted(() => {});
    const page = await browser.newPage();
    await page.goto(coord.joinUrl);
    await page.waitForFunction(() => document.querySelector('#steps')?.textContent === '1');
    await page.close({ runBeforeUnload: true });
    const leave = await coord.next((m) => m.type === 'leave', 5000);
    expect(leave).toEqual({ type: 'leave', reason: 'the tab was closed' });
  });
});
