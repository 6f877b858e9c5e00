/**
 * Section `determinism`: what bit-identical training costs. Deterministic
 * mode cuts every global batch into fixed micro-batches (the CLI's default,
 * 32) and reduces them over the canonical tree; the fastest mode without
 * that guarantee computes each thread's shard in one pass (micro-batch =
 * shard) and sums the shards — what a trainer without fixed micro-batches
 * does, and whose bits then change with the thread count. Both run the
 * production Trainer step with the same kernels, interleaved.
 */
import { compareCells, type CellResult, type CellSpec } from '../lib/cells.js';
import { fmt, fmtInt, fmtPct } from '../lib/format.js';
import { availableKernels, engineKernelChoices, type KernelName } from '../lib/kernel-sets.js';
import { LARGE, SMALL, type Arch } from '../lib/models.js';
import { benchModule } from '../lib/paths.js';
import type { Ctx, Section, SectionResult, SummaryRow } from '../lib/section.js';

const CELLS = benchModule('sections/threads-cells.ts');
const MICRO_BATCH = 32;
const MAX_COST = 0.1;

export const determinism: Section = {
  name: 'determinism',
  title: 'The cost of deterministic mode (fixed micro-batches, canonical tree) vs the fastest non-deterministic mode',
  async run(ctx: Ctx): Promise<SectionResult> {
    const notes: string[] = [];
    const avail = await availableKernels();
    const choices = (await engineKernelChoices()) ?? [];
    // The fastest kernels (native where the addon loads), and wasm: the default family, the one browsers share.
    const sets = [...new Set<KernelName>([avail.names.at(-1)!.name, 'wasm'])].filter((k) => k === 'js' || choices.includes(k));
    const runs = ctx.quick ? ctx.runs : Math.max(ctx.runs, 9);
    const rows: string[][] = [];
    const summary: SummaryRow[] = [];
    const data: Record<string, unknown> = {};
    for (const kernels of sets) {
      for (const arch of [LARGE, SMALL] as Arch[]) {
        for (const threads of [1, 2]) {
          const name = `${arch.name} b${arch.batch}, ${kernels}, ${threads} thread${threads > 1 ? 's' : ''}`;
          ctx.log(`determinism: ${name}`);
          const engine = threads === 1 ? 'local' : 'pool';
          const fast = arch.batch / threads;
          if (fast <= MICRO_BATCH) {
            // One micro-batch per thread already: the two modes are the same computation.
            rows.push([name, 'same computation', '', '0', '', '', '']);
            notes.push(`${name}: each thread's shard is one micro-batch of ${fast}, so deterministic mode does exactly what one pass per thread does`);
            continue;
          }
          // Both modes split every step over the threads (minShardMs 0): what is compared is per-thread passes.
          const specs: CellSpec[] = [
            { id: 'det', label: `deterministic (micro-batch ${MICRO_BATCH})`, module: CELLS, factory: 'engineCell', args: { arch, engine, threads, microBatch: MICRO_BATCH, kernels, minShardMs: 0 }, unitsPerStep: arch.batch },
            { id: 'fast', label: `one pass per thread (micro-batch ${fast})`, module: CELLS, factory: 'engineCell', args: { arch, engine, threads, microBatch: fast, kernels, minShardMs: 0 }, unitsPerStep: arch.batch },
          ];
          // A difference of a few percent needs more runs than the other sections' ratios.
          const res = await compareCells(specs, { runs, blockMs: ctx.blockMs, warmupMs: ctx.warmupMs, log: ctx.log });
          const by = (k: string): CellResult => res.find((r) => r.id === k)!;
          const [det, nd] = [by('det'), by('fast')];
          for (const r of res) if (!r.ok) notes.push(`${name}: ${r.label}: ${r.error}`);
          const cost = 1 - det.median / nd.median;
          const costCpu = 1 - det.cpuMedian / nd.cpuMedian;
          rows.push([name, det.ok ? fmtInt(det.median) : 'failed', nd.ok ? fmtInt(nd.median) : 'failed', fmtPct(cost), threads === 1 ? fmtPct(costCpu) : '', `±${fmtPct(Math.max(det.spread, nd.spread) / 2, 0)}`, [det, nd].map((c) => fmt(c.cpuShare, 2)).join(' / ')]);
          data[name] = { arch, kernels, threads, results: res, cost, costCpu };
          summary.push({
            metric: `determinism cost, ${name}`,
            value: `${fmtInt(det.median)} vs ${fmtInt(nd.median)} samples/s: ${fmtPct(cost)} slower`,
            target: `≤ ${fmtPct(MAX_COST, 0)}`,
            status: !det.ok || !nd.ok ? '' : cost <= MAX_COST ? 'met' : 'missed',
          });
        }
      }
    }
    ctx.table({
      title: `determinism — samples/s (median of ${runs} interleaved runs after warm-up)`,
      headers: ['model, kernels, threads', `deterministic (mb ${MICRO_BATCH})`, 'one pass per thread', 'cost', 'cost per CPU-s', 'spread', 'cores used det / fast'],
      rows,
      notes: [
        'cost = 1 − deterministic / one-pass samples/s (ratio of medians); per CPU-s: the same from samples per CPU-second of the cell (1-thread rows: robust to other load)',
        'deterministic: the bits are the same for any thread count, any number of workers and any arrival order; one pass per thread: the bits change with the thread count',
        'the deterministic path computes the forward pass and deltas over up to 256 rows at once and fuses the per-micro-batch weight gradients and their tree additions into one kernel call per layer (Kernels.gemmTnBlocks: native and WASM; the JS reference runs one gemm per micro-batch plus adds)',
        ...notes,
      ],
    });
    return { summary, notes, data };
  },
};
