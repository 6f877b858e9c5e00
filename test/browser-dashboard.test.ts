// The dashboard, live over /feed while a run goes: worker rows, a loss chart
// that grows step by step, the run's configuration and the join link; a
// dashboard opened late draws the run from its first step (/api/history).
// Screenshots go to test-artifacts/ (not committed).
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { artifactPath, browserSuite, runBrowserTests, watchProblems } from './helpers/browser.js';
import { startScriptedCoordinator } from './helpers/browser-scripted.js';

const RUN = ['--dataset', 'spirals', '--model', '64', '--steps', '150', '--batch', '32', '--micro-batch', '16', '--lr', '0.01'];

const points = (page: Page, id: string): Promise<number> => page.$eval(`#${id}`, (el) => Number((el as HTMLElement).dataset.points));
const rows = (page: Page): Promise<number> => page.$$eval('table.workers tr.worker', (trs) => trs.length);

describe.runIf(runBrowserTests())('dashboard', () => {
  const suite = browserSuite();

  it('shows workers, a growing loss chart, the config and the join link while a run goes', async () => {
    // --step-delay: the run must still be going when the late dashboard opens, however fast the machine.
    const coord = await suite.start([...RUN, '--local-workers', '1', '--local-threads', '1', '--min-workers', '2', '--step-delay', '60']);
    const context = await suite.browser().newContext({ viewport: { width: 1400, height: 1000 } });
    const dash = await context.newPage();
    const dashProblems = watchProblems(dash);
    await dash.goto(coord.dashboard);
    // Before the browser joins: one worker, waiting for the second.
    await dash.waitForFunction(() => document.querySelector('#run-state')?.textContent === 'waiting for workers');
    await dash.waitForFunction(() => document.querySelectorAll('table.workers tr.worker').length === 1);
    expect(await dash.textContent('#feed-state')).toBe('live');

    const join = await context.newPage();
    const joinProblems = watchProblems(join);
    await join.goto(coord.join);
    await dash.waitForFunction(
      () => document.querySelectorAll('table.workers tr.worker').length >= 2 && Number((document.querySelector('#chart-loss') as HTMLElement).dataset.points) >= 10,
      null,
      { timeout: 30_000 },
    );
    await join.waitForFunction(() => Number(document.querySelector('#steps')?.textContent?.replace(/,/g, '')) >= 5);
    await Promise.all([
      dash.screenshot({ path: artifactPath('dashboard.png'), fullPage: true }),
      join.screenshot({ path: artifactPath('join.png'), fullPage: true }),
    ]);
    expect(await rows(dash)).toBeGreaterThanOrEqual(2);
    const kinds = await dash.$$eval('table.workers tr.worker td:nth-child(2)', (tds) => tds.map((td) => td.textContent).sort());
    expect(kinds).toEqual(['browser', 'node']);
    expect(await points(dash, 'chart-loss')).toBeGreaterThanOrEqual(10);
    expect(await points(dash, 'chart-timing')).toBeGreaterThanOrEqual(10);
    expect(await dash.textContent('#config')).toContain('spirals');
    expect(await dash.textContent('#config')).toContain('2 → 64 relu → 3 softmax');
    const token = new URL(coord.dashboard).searchParams.get('token')!;
    expect(await dash.textContent('#join-link')).toBe(`${coord.base}/join?token=${encodeURIComponent(token)}`);
    expect(await dash.textContent('#worker-command')).toBe(`pnpm gradmesh worker --url ${coord.wsUrl} --token ${token}`);

    // A dashboard opened now still draws the run from step 1.
    const late = await context.newPage();
    const lateProblems = watchProblems(late);
    await late.goto(coord.dashboard);
    await late.waitForFunction(() => Number((document.querySelector('#chart-loss') as HTMLElement).dataset.points) >= 12);
    const history = await late.evaluate(() => fetch('/api/history').then((r) => r.json() as Promise<{ steps: { step: number[] }; evals: { step: number[] } }>));
    expect(history.steps.step.slice(0, 3)).toEqual([0, 1, 2]);
    // Spirals at batch 32 evaluates every 10 steps; the history places each evaluation where the feed did.
    expect(history.evals.step.length).toBeGreaterThan(0);
    expect(history.evals.step.every((s) => s % 10 === 0)).toBe(true);
    expect(await points(late, 'chart-accuracy')).toBeGreaterThan(0);

    const { code, summary } = await coord.exited;
    expect(code).toBe(0);
    // The end of the run: full progress, the summary, the final evaluation on the accuracy chart; the workers left.
    await dash.waitForFunction(() => document.querySelector('#run-state')?.textContent === 'done');
    expect(await dash.textContent('#stat-step')).toBe('150 / 150');
    expect(await dash.textContent('#progress-caption')).toContain(summary!.paramsSha256.slice(0, 16));
    expect(await points(dash, 'chart-loss')).toBe(150);
    expect(await points(dash, 'chart-accuracy')).toBeGreaterThanOrEqual(2);
    await dash.waitForFunction(() => document.querySelector('#feed-state')?.textContent === 'coordinator has exited');
    await dash.screenshot({ path: artifactPath('dashboard-finished.png'), fullPage: true });
    expect([...dashProblems, ...joinProblems, ...lateProblems].filter((p) => !/ERR_CONNECTION_REFUSED|WebSocket connection/.test(p))).toEqual([]);
    await context.close();
  }, 120_000);

  it('says there is no join link when opened without the token', async () => {
    // Only the page matters here: a server with the pages and no run will do.
    const server = await startScriptedCoordinator({ token: 't', datasetBytes: new Uint8Array(0), onMessage: () => {} });
    try {
      const page = await suite.browser().newPage();
      await page.goto(`${server.base}/`);
      await page.waitForSelector('#no-token');
      expect(await page.$('#join-link')).toBeNull();
      expect(await page.textContent('#no-token')).toContain('without the run’s token');
      await page.close();
    } finally {
      await server.close();
    }
  });
});
