import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { createModel, Optimizer, Rng, encodeModel, paramLayout } from '@gradmesh/core';
import { COMPRESSIONS } from '@gradmesh/protocol';
import { batchIndices, encodeDatasetBinary, stepsPerEpoch } from '@gradmesh/data';
import { maxFrameBytes } from '../coordinator/limits.js';
import { loadKernels, updateKernels } from '@gradmesh/engine/node';
import { flag, helpText, intFrom, parseFlags, positiveNumber, type Options } from '../flags.js';
import { buildConfig, defaultThreads, trainOptions, type TrainConfig } from '../train-options.js';
import { Progress } from '../progress.js';
import { paramsSha256, writeFileAtomic } from '../files.js';
import { evaluateSplit, strideSubset } from '../evaluate.js';
import { RunError, UsageError } from '../errors.js';
import { Coordinator, WorkerTimeoutError, type StepReport } from '../coordinator/coordinator.js';
import { CoordinatorServer } from '../coordinator/server.js';
import { Ledger } from '../coordinator/ledger.js';
import { loadCheckpoint, saveCheckpoint } from '../coordinator/checkpoint.js';
import { statusJson, prometheusText } from '../coordinator/status.js';
import { loadDatasetOrUsage, type DoneSummary } from './train.js';
import { webRoutes } from '../coordinator/web.js';
import { stopChildren, WORKER_HEAP_FLAG } from '../children.js';

const options: Options = {
  ...trainOptions,
  host: { type: 'string', valueName: 'HOST', help: 'address to listen on (default 127.0.0.1; 0.0.0.0 for other machines)' },
  port: { type: 'string', valueName: 'PORT', help: 'port (default 8080; 0 picks a free one)' },
  token: { type: 'string', valueName: 'TOKEN', help: 'token workers need to join (default: generated and printed)' },
  'local-workers': { type: 'string', valueName: 'N', help: 'worker processes to start on this machine (default 1; 0: remote workers only)' },
  'local-threads': { type: 'string', valueName: 'N', help: 'threads per local worker (default: cores / local workers)' },
  'min-workers': { type: 'string', valueName: 'M', help: 'wait for M workers before step 1 (default: local workers, at least 1)' },
  'checkpoint-dir': { type: 'string', valueName: 'DIR', help: 'write checkpoints here' },
  'checkpoint-every': { type: 'string', valueName: 'K', help: 'checkpoint every K steps (default 100 with --checkpoint-dir)' },
  resume: { type: 'boolean', help: 'continue from the checkpoint in --checkpoint-dir' },
  'worker-timeout': { type: 'string', valueName: 'SECONDS', help: 'stop (saving a checkpoint) after this long with no worker (default 300)' },
  'deadline-floor': { type: 'string', valueName: 'MS', help: 'straggler deadline floor in ms (default 2000); the deadline is max(floor, 5 × recent step time)' },
  'heartbeat-ms': { type: 'string', valueName: 'MS', help: 'ping interval; a silent connection is dropped within two (default 10000)' },
  'ledger-out': { type: 'string', valueName: 'FILE', help: 'write the (step, shard, worker) ledger as JSON lines' },
  aggregate: { type: 'string', valueName: 'MODE', help: 'mean (exact; default) | median | trimmed-mean: drop gradients far from the median or trimmed-mean centre (hostile workers); even shares' },
  compress: {
    type: 'string',
    valueName: 'MODE',
    help:
      'none (default: float32, bit-identical to single-process training) | fp16 | int8: parameters and gradients on the wire ' +
      'quantized with error feedback, about ½ or ¼ of the bytes per step; results then depend on which worker computed what (not bit-identical)',
  },
  'max-connections': { type: 'string', valueName: 'N', help: 'cap on open WebSocket connections (default 512)' },
  'step-delay': { type: 'string', valueName: 'MS', help: 'pause between steps (to watch a run on the dashboard; default 0)' },
  'keep-open': { type: 'boolean', help: 'keep serving the dashboard after the run ends (until Ctrl-C)' },
};

export const coordinatorHelp = helpText(
  'usage: gradmesh coordinator [options]',
  'Starts a coordinator: workers on this and other machines (and browsers opening the join link) compute\n' +
    'gradients on shards of every global batch; the coordinator reduces them and takes one synchronous step.',
  options,
);

export async function coordinatorCommand(argv: string[]): Promise<number> {
  const v = parseFlags(argv, options);
  if (v.help) {
    process.stdout.write(coordinatorHelp);
    return 0;
  }
  const str = (k: string): string | undefined => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
  const host = str('host') ?? '127.0.0.1';
  const port = flag('port', str('port') ?? '8080', intFrom(0, 65535), 'an integer from 0 to 65535');
  const localWorkers = flag('local-workers', str('local-workers') ?? '1', intFrom(0, 64), 'an integer from 0 to 64');
  const localThreads = flag(
    'local-threads',
    str('local-threads') ?? String(Math.max(1, Math.floor(defaultThreads() / Math.max(1, localWorkers)))),
    intFrom(1, 256),
    'an integer from 1 to 256',
  );
  const minWorkers = flag('min-workers', str('min-workers') ?? String(Math.max(1, localWorkers)), intFrom(1, 10_000), 'an integer ≥ 1');
  // Hex, not base64url: a generated token never starts with '-', so the printed worker command works as shown.
  const token = str('token') ?? randomBytes(12).toString('hex');
  if (token.length < 1 || token.length > 256) throw new UsageError('--token: expected 1 to 256 characters');
  const ckptDir = str('checkpoint-dir');
  const ckptEvery = flag('checkpoint-every', str('checkpoint-every') ?? '100', intFrom(1, 1e9), 'a positive integer');
  if (v.resume && !ckptDir) throw new UsageError('--resume needs --checkpoint-dir DIR');
  const workerTimeoutMs = 1000 * flag('worker-timeout', str('worker-timeout') ?? '300', positiveNumber, 'a positive number of seconds');
  const deadlineFloorMs = flag('deadline-floor', str('deadline-floor') ?? '2000', positiveNumber, 'a positive number of milliseconds');
  const heartbeatMs = flag('heartbeat-ms', str('heartbeat-ms') ?? '10000', positiveNumber, 'a positive number of milliseconds');
  const stepDelayMs = flag('step-delay', str('step-delay') ?? '0', z.string().regex(/^\d+$/).transform(Number), 'a non-negative number of milliseconds');
  const aggregate = flag('aggregate', str('aggregate') ?? 'mean', z.enum(['mean', 'median', 'trimmed-mean']), 'mean|median|trimmed-mean');
  const compress = flag('compress', str('compress') ?? 'none', z.enum(COMPRESSIONS), COMPRESSIONS.join('|'));
  const maxConnections = flag('max-connections', str('max-connections') ?? '512', intFrom(1, 100_000), 'an integer from 1 to 100000');
  const progress = new Progress(process.stderr, Boolean(v.quiet));

  const datasetArg = str('dataset') ?? 'mnist';
  const ds = await loadDatasetOrUsage(datasetArg, str('label'));
  let cfg: TrainConfig = buildConfig(v, ds, (b) => stepsPerEpoch(ds.train.n, b));
  cfg.dataset = datasetArg;

  const model = createModel(cfg.spec, loadKernels(cfg.kernels, paramLayout(cfg.spec).paramCount).kernels);
  let params: Float32Array = new Float32Array(model.paramCount);
  model.initParams(params, new Rng(cfg.seed));
  // The update runs on the coordinator's own copy of the parameters: the fastest axpy (the same bits whichever).
  const stepKernels = updateKernels(model.kernels);
  let optimizer = new Optimizer(cfg.optimizer, model.paramCount, stepKernels);
  let startStep = 0;
  let runId = randomBytes(6).toString('hex');
  if (v.resume) {
    let ck;
    try {
      ck = loadCheckpoint(ckptDir!);
    } catch (err) {
      throw new RunError((err as Error).message);
    }
    if (JSON.stringify(ck.config) !== JSON.stringify(cfg)) {
      throw new UsageError(`--resume: the checkpoint in ${ckptDir} was written by a run with different flags; use the same flags or another --checkpoint-dir`);
    }
    cfg = ck.config;
    params = ck.params;
    optimizer = new Optimizer(ck.optimizer.config, model.paramCount, stepKernels);
    optimizer.setState({ state: ck.optimizer.state, t: ck.optimizer.t });
    startStep = ck.step;
    runId = ck.runId;
    progress.line(`resuming run ${runId} at step ${startStep} of ${cfg.steps}`);
  }

  const datasetBytes = encodeDatasetBinary(ds);
  const ledger = new Ledger(str('ledger-out'));
  const run = {
    runId,
    dataset: datasetArg.slice(0, 64),
    datasetUrl: null as string | null,
    spec: cfg.spec as unknown as Record<string, unknown>,
    paramCount: model.paramCount,
    batch: cfg.batch,
    microBatch: cfg.microBatch,
    seed: cfg.seed,
    kernels: cfg.kernels,
    ...(compress === 'none' ? {} : { compress }),
  };
  const coord = new Coordinator({
    run,
    params,
    optimizer,
    plan: (t) => batchIndices(ds.train.n, cfg.batch, cfg.seed, t),
    startStep,
    totalSteps: cfg.steps,
    minWorkers,
    deadlineFloorMs,
    workerTimeoutMs,
    ledger,
    aggregate,
  });
  const log = (line: string): void => progress.line(line);
  coord.on('log', log);
  const server = new CoordinatorServer(coord, {
    host,
    port,
    token,
    maxPayload: maxFrameBytes(model.paramCount, cfg.batch, cfg.microBatch),
    heartbeatMs,
    maxConnections,
    log,
    routes: webRoutes({ coordinator: coord, datasetBytes, token, config: cfg, getStatus: () => status() }),
  });
  let base: string;
  try {
    base = await server.listen();
  } catch (err) {
    throw new RunError(`cannot listen on ${host}:${port}: ${(err as Error).message}`);
  }
  const wsUrl = `${base.replace(/^http/, 'ws')}/ws`;
  // Relative: workers fetch it from the host they reached us at (we may listen on 0.0.0.0).
  run.datasetUrl = '/dataset.bin';
  let t0 = performance.now();
  coord.once('start', () => {
    t0 = performance.now();
  });
  let lastTest = { loss: NaN, accuracy: NaN, step: -1 };
  const status = (): unknown => statusJson(coord, cfg, { startedAt: t0, test: lastTest, url: base, wire: server.wire });
  server.snapshot = () => ({ type: 'snapshot', status: status(), config: cfg });
  coord.on('workers', () => server.broadcastFeed(() => ({ type: 'workers', status: status() })));
  const joinLink = `${base}/join?token=${encodeURIComponent(token)}`;
  process.stdout.write(
    `gradmesh coordinator: run ${runId}, ${ds.name}, ${model.paramCount} params, ${cfg.steps} steps of batch ${cfg.batch}\n` +
      `  dashboard: ${base}/?token=${encodeURIComponent(token)}\n` +
      `  token:     ${token}\n` +
      `  browsers:  ${joinLink}\n` +
      `  machines:  pnpm gradmesh worker --url ${wsUrl} --token ${token}\n`,
  );

  const children: ChildProcess[] = [];
  const mainScript = fileURLToPath(new URL('../main.ts', import.meta.url)).replace(/\.ts$/, import.meta.url.endsWith('.ts') ? '.ts' : '.js');
  // A worker receives and sends a parameter-sized frame every step; with V8's
  // default small initial old generation that churn set off a major GC every
  // ~3 steps (5–16 ms pauses plus incremental marking up to 22 ms, measured
  // with --trace-gc), landing in the middle of the computation. A larger
  // initial old space (a threshold, not an allocation) removes them: 2 local
  // workers on 784-512-512-10 went from 77 to 52 ms per step.
  const nodeFlags = process.execArgv.some((a) => a.startsWith('--initial-old-space-size')) ? [] : [WORKER_HEAP_FLAG];
  for (let i = 0; i < localWorkers; i++) {
    const child = spawn(
      process.execPath,
      [...nodeFlags, ...process.execArgv, mainScript, 'worker', '--url', wsUrl, `--token=${token}`, '--threads', String(localThreads), '--name', `local-${i + 1}`, '--quiet'],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    children.push(child);
  }

  let metrics: WriteStream | undefined;
  if (str('metrics-out')) metrics = createWriteStream(str('metrics-out')!, { flags: startStep > 0 ? 'a' : 'w' });
  let interrupted = false;
  const onSignal = (): void => {
    if (interrupted) process.exit(130);
    interrupted = true;
    coord.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const spe = stepsPerEpoch(ds.train.n, cfg.batch);
  const checkpoint = (): void => {
    if (!ckptDir) return;
    saveCheckpoint(ckptDir, { runId, step: coord.step, config: cfg, spec: cfg.spec, params, optimizer: { config: cfg.optimizer, ...optimizer.getState() } });
  };
  if (coord.members.size < minWorkers) progress.line(`waiting for ${minWorkers} worker${minWorkers > 1 ? 's' : ''}…`);
  const liveTest = strideSubset(ds.test, 512);
  let samplesDone = 0;
  try {
    await coord.run(async (r: StepReport) => {
      samplesDone += r.samples;
      const ms3 = (x: number): number => Math.round(x * 1000) / 1000;
      metrics?.write(
        `${JSON.stringify({ step: r.step, epoch: r.epoch, loss: r.loss, samples: r.samples, ms: ms3(r.ms), computeMs: ms3(r.computeMs), waitMs: ms3(r.waitMs), commMs: ms3(r.commMs), workers: r.workers })}\n`,
      );
      const done = r.step + 1;
      const secs = (performance.now() - t0) / 1000;
      progress.update(done, cfg.steps, `epoch ${r.epoch + 1} step ${done}/${cfg.steps} loss ${r.loss.toFixed(4)} ${Math.round(samplesDone / secs)} samples/s, ${r.workers} workers`);
      // The full test split at each epoch's end; in between, for the live chart, its first
      // a fixed 512-sample subset every few steps (a full pass would cost more than a step on MNIST).
      const epochEnd = done === cfg.steps || done % spe === 0;
      const liveEval = done % Math.max(10, Math.floor(spe / 4)) === 0;
      if ((epochEnd || liveEval) && ds.test.n > 0) {
        const ev = evaluateSplit(model, params, epochEnd ? ds.test : liveTest);
        lastTest = { ...ev, step: done };
        server.broadcastFeed({ type: 'eval', step: done, testLoss: ev.loss, testAccuracy: ev.accuracy, samples: epochEnd ? ds.test.n : liveTest.n });
        if (epochEnd) {
          progress.line(`epoch ${r.epoch + 1}: test loss ${ev.loss.toFixed(4)}${ds.task === 'classification' ? `, test accuracy ${(100 * ev.accuracy).toFixed(2)}%` : ''} (${secs.toFixed(1)} s)`);
        }
      }
      server.broadcastFeed(() => ({ type: 'step', report: r, status: status() }));
      if (ckptDir && done % ckptEvery === 0) checkpoint();
      if (stepDelayMs > 0) await new Promise((res) => setTimeout(res, stepDelayMs));
    });
  } catch (err) {
    if (err instanceof WorkerTimeoutError) {
      checkpoint();
      progress.end();
      await shutdown(server, children);
      throw new RunError(`${err.message}${ckptDir ? `; checkpoint saved in ${ckptDir} (resume with --resume)` : ''}`);
    }
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  progress.end();
  if (interrupted) {
    checkpoint();
    coord.finish('the coordinator was stopped');
    await shutdown(server, children);
    throw new RunError(`interrupted at step ${coord.step}${ckptDir ? `; checkpoint saved in ${ckptDir}` : '; nothing was saved'}`);
  }
  checkpoint();
  const seconds = (performance.now() - t0) / 1000;
  const trainEval = evaluateSplit(model, params, ds.train);
  const testEval = ds.test.n > 0 ? evaluateSplit(model, params, ds.test) : { loss: NaN, accuracy: NaN };
  const summary: DoneSummary = {
    event: 'done',
    steps: cfg.steps,
    trainLoss: trainEval.loss,
    testLoss: testEval.loss,
    testAccuracy: testEval.accuracy,
    seconds: Math.round(seconds * 1000) / 1000,
    paramsSha256: paramsSha256(params),
    wire: { ...server.wire },
  };
  const savePath = str('save');
  if (savePath) {
    writeFileAtomic(savePath, encodeModel({ spec: cfg.spec, params, optimizer: { config: cfg.optimizer, ...optimizer.getState() }, meta: { config: cfg } }));
    summary.saved = savePath;
  }
  lastTest = { ...testEval, step: coord.step };
  server.broadcastFeed({ type: 'done', summary, status: status() });
  coord.finish(`run finished after ${cfg.steps} steps`);
  if (metrics) {
    const { saved: _saved, ...line } = summary;
    metrics.write(`${JSON.stringify(line)}\n`);
    await new Promise<void>((res) => metrics!.end(() => res()));
  }
  if (v.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else if (!v.quiet) {
    process.stdout.write(
      `done: ${cfg.steps} steps in ${seconds.toFixed(1)} s, test loss ${testEval.loss.toFixed(4)}` +
        (ds.task === 'classification' ? `, test accuracy ${(100 * testEval.accuracy).toFixed(2)}%` : '') +
        `\nparams sha256 ${summary.paramsSha256}\n` +
        (savePath ? `model saved to ${savePath}\n` : ''),
    );
  }
  if (v['keep-open']) {
    process.stderr.write(`run finished; dashboard stays at ${base}/ (Ctrl-C to exit)\n`);
    await new Promise<void>((res) => process.once('SIGINT', () => res()));
  }
  await shutdown(server, children);
  return 0;
}

async function shutdown(server: CoordinatorServer, children: ChildProcess[]): Promise<void> {
  await stopChildren(children);
  await server.close();
}
