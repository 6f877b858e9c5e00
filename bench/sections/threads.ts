/**
 * Section `threads`: data parallelism over the cores of one machine. Samples/s
 * of LocalEngine (one thread) and PoolEngine (piscina, 1 and 2 threads), the
 * pool's per-step overhead on a tiny model, and where that overhead goes.
 */
import { compareCells, runOnce, type CellResult, type CellSpec } from '../lib/cells.js';
import { fmt, fmtInt, fmtPct, fmtRatio } from '../lib/format.js';
import { availableKernels, engineKernelChoices, type KernelName } from '../lib/kernel-sets.js';
import { LARGE, SMALL, TINY, paramCountOf, type Arch } from '../lib/models.js';
import { benchModule } from '../lib/paths.js';
import { target, type Ctx, type Section, type SectionResult, type SummaryRow } from '../lib/section.js';

const CELLS = benchModule('sections/threads-cells.ts');

interface Variant {
  arch: Arch;
  microBatch: number;
  kernels: KernelName;
  /** The Trainer's optimizer (default sgd). */
  optimizer?: 'sgd' | 'momentum';
}

export const threads: Section = {
  name: 'threads',
  title: 'Scaling over threads: PoolEngine (piscina) vs LocalEngine',
  async run(ctx: Ctx): Promise<SectionResult> {
    const notes: string[] = [
      'every cell runs the production Trainer step (plan, gather, gradients, canonical-tree reduction, the update: plain SGD unless the row names momentum, lr 0.01); LocalEngine and the pool\'s threads use the kernel set named in the row',
      'speed-up = PoolEngine(2 threads) / LocalEngine at the same micro-batch; the 2 cores are shared with other work, which caps 2-thread figures first',
    ];
    const avail = await availableKernels();
    const fastest = avail.names.at(-1)!;
    const choices = await engineKernelChoices();
    const sets: KernelName[] = ['js'];
    if (fastest.name !== 'js') {
      if (choices?.includes(fastest.name)) sets.push(fastest.name);
      else notes.push(`the pool cannot run the ${fastest.label} kernels yet (ContextSpec.kernels is ignored), so only js rows`);
    }
    // The CLI's default micro-batch (32), and half the batch (one micro-batch per thread: fewest, largest matrix products).
    // `gradmesh train`'s default kernels (wasm): the large model at the default micro-batch.
    const defaults: Variant[] = choices?.includes('wasm') && avail.names.some((k) => k.name === 'wasm') ? [{ arch: LARGE, microBatch: 32, kernels: 'wasm' }] : [];
    const variants: Variant[] = [...defaults, ...sets.flatMap((kernels) => [
      { arch: LARGE, microBatch: 32, kernels },
      { arch: LARGE, microBatch: LARGE.batch / 2, kernels },
      // The MNIST recipe's optimizer: its update (a JS loop, ~4 ns a parameter) is split over the threads too.
      ...(kernels !== 'js' ? [{ arch: LARGE, microBatch: 32, kernels, optimizer: 'momentum' as const }] : []),
      { arch: SMALL, microBatch: 32, kernels },
      // The tiny model measures fixed costs, which do not depend on the kernels.
      ...(kernels === 'js' ? [{ arch: TINY, microBatch: TINY.batch / 2, kernels }] : []),
    ])];
    const engines: Array<{ key: string; engine: 'local' | 'pool'; threads: number; label: string }> = [
      { key: 'local', engine: 'local', threads: 1, label: 'LocalEngine' },
      { key: 'pool1', engine: 'pool', threads: 1, label: 'PoolEngine 1 thread (the caller alone)' },
      { key: 'pool2', engine: 'pool', threads: 2, label: 'PoolEngine 2 threads' },
    ];
    const rows: string[][] = [];
    const summary: SummaryRow[] = [];
    const data: Record<string, unknown> = {};
    for (const v of variants) {
      const name = `${v.arch.name} b${v.arch.batch} mb${v.microBatch}, ${v.kernels}${v.optimizer ? `, ${v.optimizer}` : ''}`;
      ctx.log(`threads: ${name}`);
      const specs: CellSpec[] = engines.map((e) => ({
        id: e.key,
        label: e.label,
        module: CELLS,
        factory: 'engineCell',
        // The tiny model measures what a split costs, so its pool splits every step; the others run as the CLI does.
        args: { arch: v.arch, engine: e.engine, threads: e.threads, microBatch: v.microBatch, kernels: v.kernels, optimizer: v.optimizer ?? 'sgd', ...(v.arch === TINY ? { minShardMs: 0 } : {}) },
        unitsPerStep: v.arch.batch,
      }));
      // The premise: what two cores give two loops that share nothing (measured alongside, same load).
      if (v.arch !== TINY) {
        for (const copies of [1, 2]) {
          specs.push({ id: `ind${copies}`, label: `${copies} independent loop${copies > 1 ? 's' : ''}`, module: CELLS, factory: 'independentCell', args: { arch: v.arch, copies, microBatch: v.microBatch, kernels: v.kernels, optimizer: v.optimizer ?? 'sgd' }, unitsPerStep: v.arch.batch * copies });
        }
      }
      const res = await compareCells(specs, { runs: ctx.runs, blockMs: ctx.blockMs, warmupMs: ctx.warmupMs, log: ctx.log });
      const by = (k: string): CellResult => res.find((r) => r.id === k)!;
      const local = by('local');
      const p1 = by('pool1');
      const p2 = by('pool2');
      // What a perfect 2-way split would not pay: 2 threads' step time above half of LocalEngine's.
      const overheadUs = (p2.msPerStep - local.msPerStep / 2) * 1000;
      // The pool kept this model's 2-thread steps whole (its last timed step was one shard): no split to cost.
      const oneShard = p2.extras.at(-1)?.shards === 1;
      const ind1 = res.find((r) => r.id === 'ind1');
      const ind2 = res.find((r) => r.id === 'ind2');
      const machine = ind1?.ok && ind2?.ok ? ind2.median / ind1.median : NaN;
      rows.push([
        name,
        local.ok ? fmtInt(local.median) : 'failed',
        p1.ok ? fmtInt(p1.median) : 'failed',
        p2.ok ? `${fmtInt(p2.median)}${oneShard ? ' (1 shard)' : ''}` : 'failed',
        fmtRatio(p2.median / local.median),
        fmtRatio(p2.median / p1.median),
        Number.isFinite(machine) ? fmtRatio(machine) : '',
        fmt(local.msPerStep * 1000),
        oneShard ? '' : fmt(overheadUs),
        `±${fmtPct(Math.max(local.spread, p1.spread, p2.spread) / 2, 0)}`,
        [local, p1, p2].map((c) => fmt(c.cpuShare, 2)).join(' / '),
      ]);
      for (const r of res) if (!r.ok) notes.push(`${name}: ${r.label}: ${r.error}`);
      data[name] = { arch: v.arch, microBatch: v.microBatch, kernels: v.kernels, results: res, speedup: p2.median / local.median, machineScaling: machine, splitOverheadUs: overheadUs };
      // Two cores that give two independent loops less than 1.8× cannot give one split batch 1.8×: flag it rather than call it a miss.
      const starved = Number.isFinite(machine) ? machine < 1.8 : p2.ok && p2.cpuShare < 1.6;
      const cores = Number.isFinite(machine) ? `machine: 2 independent loops ${fmtRatio(machine)}` : `pool had ${fmt(p2.cpuShare, 2)} cores`;
      if (v.arch === LARGE) {
        summary.push({
          metric: `threads ${name}: 2 threads vs 1`,
          value: `${fmtInt(p2.median)} vs ${fmtInt(local.median)} samples/s = ${fmtRatio(p2.median / local.median)} (${cores})`,
          target: '≥ 1.8×',
          status: starved && p2.median / local.median < 1.8 ? 'contended' : target(p2.median / local.median, 1.8),
        });
      } else if (v.arch === SMALL) {
        summary.push({ metric: `threads ${name}: 2 threads vs 1`, value: `${fmtRatio(p2.median / local.median)} (${cores})`, ...(starved ? { status: 'contended' as const } : {}) });
      } else {
        summary.push({ metric: `threads: per-step cost of splitting a step over 2 threads (${v.arch.name}, nothing to compute: 2 threads − LocalEngine/2)`, value: `${fmt(overheadUs)} µs/step` });
      }
    }
    ctx.table({
      title: `threads — samples/s (median of ${ctx.runs} interleaved runs after warm-up)`,
      headers: ['model, batch, micro-batch, kernels', 'LocalEngine', 'Pool 1 thr', 'Pool 2 thr', '2 thr / Local', '2 thr / 1 thr', '2 loops / 1 (machine)', 'Local µs/step', '2 thr − Local/2 µs/step', 'spread', 'cores used L/1/2'],
      rows,
      notes: [
        'PoolEngine with N threads computes the first shard on the calling thread and the rest on N − 1 piscina threads, each running one long session driven through shared memory (Atomics): 1 thread is the caller alone (no pool thread), 2 threads the caller and one pool thread',
        'the Trainer takes a pool step with computeAndApply: the merge of the shards\' gradients and the optimizer update run chunk by chunk, split by parameter range over all the threads (with WASM kernels every thread first copies its nodes out of its own memory)',
        'a step is split only into shards of ≥ 2 ms of measured compute (MIN_SHARD_MS), as in `gradmesh train`; a row marked "(1 shard)" ran its 2-thread steps on the caller (so far as its last timed step shows; no split cost is given for it) (the 4-8-2 row splits every step: it measures the split\'s cost)',
        '2 thr − Local/2 = what a perfect 2-way split would not pay per step: two commands to the other thread and back, its node copy (WASM), the shared merge and update, and the two threads slowing each other',
        'cores used = CPU time / wall time of the cell\'s process (all threads) while timed: a 2-thread pool that gets < 2 cores cannot scale 2×',
        '2 loops / 1 (machine) = samples/s of two independent single-thread training loops in two threads (sharing nothing, never waiting) over one such loop, timed alongside: what the two cores deliver for this workload, the ceiling for any split of one batch',
        ...notes,
      ],
    });

    // A slower core (a hybrid CPU's efficiency cores, a busier vCPU), simulated: the pool thread takes 2× as long
    // over its shard. Equal shards wait for it; shards by measured speed give it fewer micro-batches.
    const slowKernels = sets.at(-1)!;
    const slowName = `${LARGE.name} b${LARGE.batch} mb32, ${slowKernels}, pool thread 2× slower`;
    ctx.log(`threads: ${slowName}`);
    const slowArgs = { arch: LARGE, threads: 2, microBatch: 32, kernels: slowKernels, slowThread: 2 };
    const slow = await compareCells(
      [
        { id: 'local', label: 'LocalEngine', module: CELLS, factory: 'engineCell', args: { ...slowArgs, engine: 'local', threads: 1 }, unitsPerStep: LARGE.batch },
        { id: 'even', label: 'PoolEngine 2 threads, equal shards', module: CELLS, factory: 'engineCell', args: { ...slowArgs, engine: 'pool', balance: false }, unitsPerStep: LARGE.batch },
        { id: 'speed', label: 'PoolEngine 2 threads, shards by speed', module: CELLS, factory: 'engineCell', args: { ...slowArgs, engine: 'pool' }, unitsPerStep: LARGE.batch },
      ],
      { runs: ctx.runs, blockMs: ctx.blockMs, warmupMs: ctx.warmupMs, log: ctx.log },
    );
    const sb = (k: string): CellResult => slow.find((r) => r.id === k)!;
    const [sl, se, ss] = [sb('local'), sb('even'), sb('speed')];
    if (sl.ok && se.ok && ss.ok) {
      ctx.table({
        title: `threads — a pool thread 2× slower than the caller (samples/s, median of ${ctx.runs} interleaved runs)`,
        headers: ['model, batch, micro-batch, kernels', 'LocalEngine', '2 thr, equal shards', '2 thr, by speed', 'equal / Local', 'by speed / Local', 'micro-batches caller:thread'],
        rows: [[slowName, fmtInt(sl.median), fmtInt(se.median), fmtInt(ss.median), fmtRatio(se.median / sl.median), fmtRatio(ss.median / sl.median), String(ss.extras.at(-1)?.split ?? '')]],
        notes: [
          'GRADMESH_FAULT_THREAD_SLOW=2: the pool thread spins after its shard for as long again, as a core half as fast would take (LocalEngine runs on the caller, at full speed)',
          'equal shards (PoolEngine balance: false) wait for the slow thread every step; by speed, the pool gives it fewer micro-batches once both speeds are measured (3 steps) and equal shards would be > 15 % slower, and a matching share of the merge; the bits are the same either way (the canonical tree)',
        ],
      });
      summary.push({ metric: `threads ${slowName}: shards by speed vs equal shards`, value: `${fmtRatio(ss.median / sl.median)} vs ${fmtRatio(se.median / sl.median)} of LocalEngine (split ${ss.extras.at(-1)?.split ?? '?'})` });
      data[slowName] = { results: slow };
    } else {
      for (const r of slow) if (!r.ok) notes.push(`${slowName}: ${r.label}: ${r.error}`);
    }

    ctx.log('threads: where the pool overhead goes');
    const archs = [TINY, SMALL, LARGE];
    const b = await runOnce({ id: 'breakdown', label: 'pool breakdown', module: CELLS, factory: 'poolBreakdown', args: { archs, runs: ctx.runs, blockMs: ctx.quick ? 60 : 150 }, unitsPerStep: 1 });
    if (b.ok) {
      const parts = b.extra.rows as Array<{ part: string; us: Record<string, number> }>;
      ctx.table({
        title: 'threads — pool overhead by part, µs (median of runs)',
        headers: ['part', ...archs.map((a) => `${a.name} (${fmtInt(paramCountOf(a))} params)`)],
        rows: parts.map((p) => [p.part, ...archs.map((a) => fmt(p.us.all ?? p.us[a.name] ?? NaN))]),
        notes: [
          'a PoolEngine step of N threads = two shared-memory commands per pool thread (compute, then finish: an Atomics round trip each, the floor row; the piscina rows are what a task per step cost before) + each pool thread copying its gradient into shared memory (WASM) + the merge and update, split by parameter range over the threads; setParams is free when training in the pool\'s buffer (the CLI does), LocalEngine copies',
          'round trips are wall time (they wait on another thread); the copies and the reduction are CPU time per call, which is what they cost on an idle core',
        ],
      });
      data.breakdown = parts;
    } else {
      notes.push(`pool breakdown failed: ${b.error}`);
    }
    return { summary, notes, data };
  },
};
