import { runWorker } from '@gradmesh/worker';
import { WorkerClientError } from '@gradmesh/client';
import { flag, helpText, intFrom, parseFlags, type Options } from '../flags.js';
import { defaultThreads } from '../train-options.js';
import { RunError, UsageError } from '../errors.js';
import { z } from 'zod';

const options: Options = {
  url: { type: 'string', valueName: 'ws://HOST:PORT/ws', help: 'the coordinator to join (printed by gradmesh coordinator)' },
  token: { type: 'string', valueName: 'TOKEN', help: "the run's token (printed by gradmesh coordinator)" },
  threads: { type: 'string', valueName: 'N', help: `threads computing gradients (default: cores = ${defaultThreads()})` },
  name: { type: 'string', valueName: 'NAME', help: 'name shown on the dashboard (default: host-pid)' },
  'random-mask': { type: 'boolean', help: 'mask frames with random keys, as RFC 6455 asks of clients (default: an all-zero key, so gradients leave without a copy; see README)' },
  quiet: { type: 'boolean', help: 'no progress output' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

export const workerHelp = helpText(
  'usage: gradmesh worker --url ws://HOST:PORT/ws --token TOKEN [options]',
  'Joins a coordinator and computes gradients on all cores until the run is done.',
  options,
);

export async function workerCommand(argv: string[]): Promise<number> {
  const v = parseFlags(argv, options);
  if (v.help) {
    process.stdout.write(workerHelp);
    return 0;
  }
  if (typeof v.url !== 'string') throw new UsageError('--url is required: the ws:// address printed by gradmesh coordinator');
  if (typeof v.token !== 'string') throw new UsageError('--token is required: the token printed by gradmesh coordinator');
  let url = flag('url', v.url, z.string().regex(/^wss?:\/\/[^\s/]+(\/[^\s]*)?$/), 'a ws:// or wss:// URL');
  if (!/\/ws$/.test(new URL(url).pathname)) url = url.replace(/\/?$/, '/ws');
  const threads = flag('threads', (v.threads as string | undefined) ?? String(defaultThreads()), intFrom(1, 256), 'an integer from 1 to 256');
  const name = v.name === undefined ? undefined : flag('name', v.name, z.string().min(1).max(64), '1 to 64 characters');
  const quiet = Boolean(v.quiet);
  const log = (line: string): void => {
    if (!quiet) process.stderr.write(`worker: ${line}\n`);
  };
  try {
    const r = await runWorker({ url, token: v.token, threads, ...(name ? { name } : {}), randomMask: Boolean(v['random-mask']), log });
    log(`run over: ${r.reason}`);
    return 0;
  } catch (err) {
    if (err instanceof WorkerClientError) throw new RunError(`refused: ${err.message}`);
    throw err;
  }
}
