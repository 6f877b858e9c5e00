import { createWriteStream, type WriteStream } from 'node:fs';
import { createModel, Optimizer, Rng, encodeModel, paramLayout } from '@gradmesh/core';
import { batchIndices, stepsPerEpoch, type Dataset } from '@gradmesh/data';
import { loadDataset } from '@gradmesh/data/node';
import { LocalEngine, Trainer, type GradientEngine } from '@gradmesh/engine';
import { loadKernels, PoolEngine, updateKernels } from '@gradmesh/engine/node';
import { flag, helpText, intFrom, parseFlags, type Options } from '../flags.js';
import { buildConfig, defaultThreads, trainOptions, type TrainConfig } from '../train-options.js';
import { Progress } from '../progress.js';
import { paramsSha256, writeFileAtomic } from '../files.js';
import { evaluateSplit } from '../evaluate.js';
import { RunError, UsageError } from '../errors.js';

const options: Options = {
  ...trainOptions,
  threads: { type: 'string', valueName: 'N', help: `threads computing each batch, at most (default: cores = ${defaultThreads()}; a step is split into fewer shards when they would take under 2 ms each)` },
};

export const trainHelp = helpText(
  'usage: gradmesh train [options]',
  'Trains a model in this process, splitting every global batch over a pool of worker threads.',
  options,
);

export interface DoneSummary {
  event: 'done';
  steps: number;
  trainLoss: number;
  testLoss: number;
  testAccuracy: number;
  seconds: number;
  paramsSha256: string;
  saved?: string;
  /** gradmesh coordinator: message bytes sent to and received from workers over the run. */
  wire?: { sentBytes: number; receivedBytes: number };
}

export async function trainCommand(argv: string[]): Promise<number> {
  const v = parseFlags(argv, options);
  if (v.help) {
    process.stdout.write(trainHelp);
    return 0;
  }
  const threads = flag('threads', (v.threads as string | undefined) ?? String(defaultThreads()), intFrom(1, 256), 'an integer from 1 to 256');
  const datasetArg = (v.dataset as string | undefined) ?? 'mnist';
  const progress = new Progress(process.stderr, Boolean(v.quiet));
  const ds = await loadDatasetOrUsage(datasetArg, v.label as string | undefined);
  const cfg = buildConfig(v, ds, (b) => stepsPerEpoch(ds.train.n, b));
  cfg.dataset = datasetArg;
  return runTraining(cfg, ds, threads, v, progress);
}

export async function loadDatasetOrUsage(name: string, label?: string): Promise<Dataset> {
  try {
    return await loadDataset(name, label === undefined ? {} : { label });
  } catch (err) {
    throw new UsageError(`--dataset: ${(err as Error).message}`);
  }
}

async function runTraining(
  cfg: TrainConfig,
  ds: Dataset,
  threads: number,
  v: Record<string, string | boolean | undefined>,
  progress: Progress,
): Promise<number> {
  const model = createModel(cfg.spec, loadKernels(cfg.kernels, paramLayout(cfg.spec).paramCount).kernels);
  const engine: GradientEngine =
    threads > 1
      ? new PoolEngine({ threads, paramCount: model.paramCount, context: { dataset: cfg.dataset, spec: cfg.spec, kernels: cfg.kernels, ...(cfg.label ? { label: cfg.label } : {}) } })
      : new LocalEngine(model, ds.train);
  // Train in the pool's shared parameters (the threads read them in place: no per-step copy).
  const params = engine.paramsBuffer ?? new Float32Array(model.paramCount);
  model.initParams(params, new Rng(cfg.seed));
  // The update runs on a plain Float32Array (possibly the pool's shared one): the fastest axpy (the same bits whichever).
  const optimizer = new Optimizer(cfg.optimizer, model.paramCount, updateKernels(model.kernels));
  const spe = stepsPerEpoch(ds.train.n, cfg.batch);
  const trainer = new Trainer(params, optimizer, engine, (t) => batchIndices(ds.train.n, cfg.batch, cfg.seed, t), cfg.batch, cfg.microBatch);

  let metrics: WriteStream | undefined;
  if (typeof v['metrics-out'] === 'string') metrics = createWriteStream(v['metrics-out'], { flags: 'w' });
  let interrupted = false;
  const onSigint = (): void => {
    interrupted = true;
  };
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigint);

  progress.line(
    `gradmesh train: ${ds.name} (${ds.train.n} train / ${ds.test.n} test), model ${[cfg.spec.inputs, ...cfg.spec.layers.map((l) => l.units)].join('-')} (${model.paramCount} params), ` +
      `${cfg.optimizer.kind} lr ${cfg.optimizer.lr}, batch ${cfg.batch}, ${cfg.steps} steps, ${threads} thread${threads > 1 ? 's' : ''}`,
  );
  const t0 = performance.now();
  let lossSum = 0;
  let lossN = 0;
  let lastLoss = NaN;
  let lastEpoch = 0;
  let samplesDone = 0;
  let lastTurn = performance.now();
  try {
    for (let s = 0; s < cfg.steps; s++) {
      // A step may never reach the event loop (every engine computes synchronously, the pool's
      // threads answer through shared memory): let it run every 50 ms, or Ctrl-C is never seen.
      if (performance.now() - lastTurn > 50) {
        await new Promise((r) => setImmediate(r));
        lastTurn = performance.now();
      }
      if (interrupted) throw new RunError(`interrupted at step ${s}; nothing was saved`);
      const info = await trainer.trainStep();
      samplesDone += info.samples;
      lastLoss = info.loss;
      if (!Number.isFinite(info.loss)) throw new RunError(`step ${info.step}: loss is ${info.loss}; lower --lr or add --clip-norm`);
      lossSum += info.loss;
      lossN++;
      metrics?.write(`${JSON.stringify({ step: info.step, epoch: info.epoch, loss: info.loss, samples: info.samples, ms: round(info.ms) })}\n`);
      const secs = (performance.now() - t0) / 1000;
      // Evaluate and report at most ~25 times per run (xor has one step per epoch).
      const epochs = Math.ceil(cfg.steps / spe);
      const every = spe * Math.ceil(epochs / 25);
      const epochEnd = s + 1 === cfg.steps || (s + 1) % every === 0;
      progress.update(
        s + 1,
        cfg.steps,
        `epoch ${info.epoch + 1} step ${s + 1}/${cfg.steps} loss ${info.loss.toFixed(4)} ${Math.round(samplesDone / secs)} samples/s`,
      );
      if (epochEnd && ds.test.n > 0) {
        const ev = evaluateSplit(model, params, ds.test);
        progress.line(
          `epoch ${info.epoch + 1}: train loss ${(lossSum / lossN).toFixed(4)}, test loss ${ev.loss.toFixed(4)}` +
            (ds.task === 'classification' ? `, test accuracy ${(100 * ev.accuracy).toFixed(2)}%` : '') +
            ` (${secs.toFixed(1)} s)`,
        );
        lastEpoch = info.epoch;
        lossSum = 0;
        lossN = 0;
      }
    }
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    await engine.close();
  }
  void lastEpoch;
  const seconds = (performance.now() - t0) / 1000;
  progress.end();
  const trainEval = evaluateSplit(model, params, ds.train);
  const testEval = ds.test.n > 0 ? evaluateSplit(model, params, ds.test) : { loss: NaN, accuracy: NaN };
  const summary: DoneSummary = {
    event: 'done',
    steps: cfg.steps,
    trainLoss: trainEval.loss,
    testLoss: testEval.loss,
    testAccuracy: testEval.accuracy,
    seconds: round(seconds),
    paramsSha256: paramsSha256(params),
  };
  const savePath = v.save as string | undefined;
  if (savePath) {
    writeFileAtomic(savePath, encodeModel({ spec: cfg.spec, params, optimizer: { config: cfg.optimizer, ...optimizer.getState() }, meta: { config: cfg, ...(ds.classes ? { classes: ds.classes } : {}) } }));
    summary.saved = savePath;
  }
  if (metrics) {
    const { saved: _saved, ...line } = summary;
    metrics.write(`${JSON.stringify(line)}\n`);
    await new Promise<void>((res, rej) => metrics!.end((err?: Error | null) => (err ? rej(err) : res())));
  }
  if (v.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else if (!v.quiet) {
    process.stdout.write(
      `done: ${cfg.steps} steps in ${seconds.toFixed(1)} s, last loss ${lastLoss.toFixed(4)}, test loss ${testEval.loss.toFixed(4)}` +
        (ds.task === 'classification' ? `, test accuracy ${(100 * testEval.accuracy).toFixed(2)}%` : '') +
        `\nparams sha256 ${summary.paramsSha256}\n` +
        (savePath ? `model saved to ${savePath}\n` : ''),
    );
  }
  return 0;
}

const round = (x: number): number => Math.round(x * 1000) / 1000;
