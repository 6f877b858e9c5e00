/**
 * Part of section `coordinator`: what --compress buys and costs on the large
 * model — wire bytes and step time of a 2-worker run with float32, fp16 and
 * int8 parameters and gradients, the three runs side by side (real worker
 * processes, see coordinator-real.ts).
 */
import type { Compression } from '@gradmesh/protocol';
import { fmt, fmtBytes, fmtRatio } from '../lib/format.js';
import { LARGE, datasetName, specOf } from '../lib/models.js';
import type { Ctx, SummaryRow } from '../lib/section.js';
import { median } from '../lib/stats.js';
import { compareRunners, CoordRunner, perStep, steadyReports, stepMs, type RunnerResult } from './coordinator-real.js';

const KINDS: Compression[] = ['none', 'fp16', 'int8'];
/**
 * Two micro-batches a step: each worker's shard is one tree node, so every run sends the same
 * messages (at micro-batch 32 a speed-weighted split such as 3 + 5 micro-batches costs 4 gradient
 * nodes instead of 2, and the runs would compare different splits rather than encodings).
 */
const MICRO_BATCH = LARGE.batch / 2;
/** The bar: bytes per step halved or quartered (with room for tasks and int8 scales). */
const BYTES_TARGET: Partial<Record<Compression, number>> = { fp16: 0.55, int8: 0.3 };

const wire = (r: RunnerResult): number => perStep(r, (b) => b.bytesOut + b.bytesIn);

export async function compressionRows(ctx: Ctx, o: { kernels: string | undefined; blockSteps: number }): Promise<{ summary: SummaryRow[]; data: Record<string, RunnerResult> }> {
  ctx.log(`coordinator: ${LARGE.name} b${LARGE.batch}, 2 workers: --compress ${KINDS.join(' | ')} side by side`);
  const runners = KINDS.map(
    (compress) =>
      new CoordRunner({ label: `--compress ${compress}`, dataset: datasetName(LARGE), spec: specOf(LARGE), batch: LARGE.batch, microBatch: MICRO_BATCH, workers: 2, compress, ...(o.kernels ? { kernels: o.kernels } : {}) }),
  );
  const results = await compareRunners(runners, { warmupSteps: 2, steps: o.blockSteps, runs: ctx.runs, log: ctx.log });
  const none = results[0]!;
  const summary: SummaryRow[] = [];
  const failures: string[] = [];
  const rows = results.map((r, i) => {
    if (!r.ok || r.blocks.length === 0) {
      failures.push(`${r.label}: ${r.error ?? 'no blocks'}`);
      return [r.label, 'failed', '', '', '', ''];
    }
    const reports = steadyReports(r);
    const bytesRatio = wire(r) / wire(none);
    const want = BYTES_TARGET[KINDS[i]!];
    if (want !== undefined) {
      summary.push({
        metric: `coordinator ${LARGE.name}, 2 workers, ${r.label}: wire bytes per step vs float32`,
        value: `${fmtBytes(wire(r))} vs ${fmtBytes(wire(none))} = ${fmtRatio(bytesRatio)}; step ${fmt(stepMs(r))} vs ${fmt(stepMs(none))} ms on loopback`,
        target: `≤ ${want}×`,
        status: Number.isFinite(bytesRatio) ? (bytesRatio <= want ? 'met' : 'missed') : '',
      });
    }
    return [
      r.label,
      fmt(stepMs(r)),
      fmtRatio(stepMs(r) / stepMs(none)),
      fmt(median(reports.map((x) => x.ms - x.computeMs))),
      `${fmtBytes(perStep(r, (b) => b.bytesOut))} + ${fmtBytes(perStep(r, (b) => b.bytesIn))}`,
      fmtRatio(bytesRatio),
    ];
  });
  ctx.table({
    title: `coordinator — --compress on ${LARGE.name}, batch ${LARGE.batch}, micro-batch ${MICRO_BATCH}, 2 worker processes with 1 thread each (median of ${ctx.runs} interleaved blocks × ${o.blockSteps} steps)`,
    headers: ['configuration', 'ms/step', 'vs none', 'step − compute ms', 'wire/step out + in', 'bytes vs none'],
    rows,
    notes: [
      'the three runs take turns a block at a time (as above); wire bytes are read off the server\'s TCP sockets: parameters (full, or a delta) and tasks out, gradients in',
      'fp16 and int8 quantize parameter deltas and gradients with error feedback (int8: one float32 scale per 256 values); encoding and decoding are plain JS on both ends, so on loopback, where bytes are nearly free, they cost step time rather than save it',
      ...failures,
    ],
  });
  return { summary, data: Object.fromEntries(results.map((r) => [r.label, r])) };
}
