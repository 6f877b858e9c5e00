// Runs code in headless Debian Chromium (never a downloaded browser): bundles
// an entry module with esbuild, runs it in a dedicated Web Worker of a blank
// page, and returns what it posts back. Shared by bench/browser.ts and
// test/browser.test.ts.
import { existsSync } from 'node:fs';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const chromiumAvailable = () => existsSync(CHROMIUM);

const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
];

export async function runInChromiumWorker<T>(entry: string, onLog?: (line: string) => void, timeoutMs = 300_000): Promise<T> {
  const bundle = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    conditions: ['@gradmesh/source'],
    logLevel: 'silent',
  });
  const code = bundle.outputFiles[0].text;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  try {
    const page = await browser.newPage();
    page.on('console', (msg) => onLog?.(msg.text()));
    await page.setContent('<!doctype html><title>gradmesh kernels</title>');
    return await page.evaluate(
      ({ code, timeoutMs }) =>
        new Promise<T>((resolve, reject) => {
          const url = URL.createObjectURL(new Blob([code], { type: 'text/javascript' }));
          const worker = new Worker(url);
          const timer = setTimeout(() => reject(new Error('worker timed out')), timeoutMs);
          worker.onmessage = (e: MessageEvent) => {
            if (e.data?.log !== undefined) return console.log(e.data.log);
            clearTimeout(timer);
            if (e.data?.error) reject(new Error(e.data.error));
            else resolve(e.data.result as T);
          };
          worker.onerror = (e) => reject(new Error(e.message));
        }),
      { code, timeoutMs },
    );
  } finally {
    await browser.close();
  }
}
