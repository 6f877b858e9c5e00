/**
 * Section `coordinator`: the distributed trainer on loopback (real worker
 * processes started with the CLI), and the coordinator's own cost per step
 * against parameter count and worker count (in-process simulated workers).
 */
import { encode } from '@gradmesh/protocol';
import { runOnce } from '../lib/cells.js';
import { fmt, fmtBytes, fmtInt, fmtRatio } from '../lib/format.js';
import { LARGE, datasetName, paramCountOf, specOf } from '../lib/models.js';
import { engineKernelChoices } from '../lib/kernel-sets.js';
import { benchModule } from '../lib/paths.js';
import { target, type Ctx, type Section, type SectionResult, type SummaryRow } from '../lib/section.js';
import { linearFit, median } from '../lib/stats.js';
import { compareRunners, CoordRunner, EchoRunner, perStep, steadyReports, stepMs, type BlockRecord, type Runner } from './coordinator-real.js';
import { compressionRows } from './coordinator-compress.js';
import type { SimPoint } from './coordinator-sim.js';

const SIM = benchModule('sections/coordinator-sim.ts');
const XOR_SPEC = { inputs: 2, layers: [{ units: 8, activation: 'tanh' as const }, { units: 2, activation: 'softmax' as const }], loss: 'softmax_xent' as const };

/** WebSocket frame header bytes for a payload: 2, +2 or +8 for the length, +4 for the mask (client → server). */
function wsHeader(len: number, masked: boolean): number {
  return 2 + (len > 65535 ? 8 : len > 125 ? 2 : 0) + (masked ? 4 : 0);
}

/** Bytes per step from the message sizes: per worker one task and one params frame out, one gradient frame in (one tree node per shard). */
function computedBytes(P: number, batch: number, microBatch: number, workers: number): { toWorkers: number; fromWorkers: number } {
  let to = 0;
  let from = 0;
  const per = Math.ceil(batch / workers);
  for (let w = 0; w < workers; w++) {
    const task = encode({ type: 'task', step: 1000, taskId: 1000, paramsVersion: 1000, batch, mbLo: 0, mbHi: 4, indices: new Uint32Array(per) }).byteLength;
    const params = encode({ type: 'params', version: 1000, params: new Float32Array(P) }).byteLength;
    const grad = encode({ type: 'gradient', step: 1000, taskId: 1000, samples: per, computeMs: 123.456, nodes: new Uint32Array(2), losses: new Float64Array(1), grad: new Float32Array(P) }).byteLength;
    to += task + wsHeader(task, false) + params + wsHeader(params, false);
    from += grad + wsHeader(grad, true);
  }
  void microBatch;
  return { toWorkers: to, fromWorkers: from };
}

export const coordinator: Section = {
  name: 'coordinator',
  title: 'Distributed trainer on loopback: worker processes, wire bytes, coordinator overhead and how it grows',
  async run(ctx: Ctx): Promise<SectionResult> {
    const notes: string[] = [];
    const summary: SummaryRow[] = [];
    const data: Record<string, unknown> = {};

    // ---- 1. 784-512-512-10, batch 256: 1 vs 2 worker processes --------------------------------
    // The workers compute with what `gradmesh coordinator` asks for by default: wasm once the engine chooses kernels, js before.
    const kernels = (await engineKernelChoices())?.includes('wasm') ? 'wasm' : undefined;
    const kernelsLabel = kernels ?? 'js';
    const blockSteps = ctx.quick ? 3 : 4;
    const largeCfgs = [32, LARGE.batch / 2].flatMap((mb) =>
      [1, 2].map((workers) => ({ mb, workers, label: `micro-batch ${mb}, ${workers} worker${workers > 1 ? 's' : ''}` })),
    );
    ctx.log(`coordinator: ${LARGE.name} b${LARGE.batch}: ${largeCfgs.length} configurations side by side (${largeCfgs.reduce((s, c) => s + c.workers, 0)} worker processes)`);
    const largeRunners = largeCfgs.map(
      (c) => new CoordRunner({ label: c.label, dataset: datasetName(LARGE), spec: specOf(LARGE), batch: LARGE.batch, microBatch: c.mb, workers: c.workers, ...(kernels ? { kernels } : {}) }),
    );
    // The same fan-out/fan-in with nothing but ws: a params-sized frame to each process, a gradient-sized reply back.
    const frameBytes = encode({ type: 'params', version: 1000, params: new Float32Array(paramCountOf(LARGE)) }).byteLength;
    const echoRunners = [1, 2].map((k) => new EchoRunner(k, frameBytes));
    // A connection carries its first few dozen 2.5 MiB frames slower than later ones (bare ws echo here: ~9 → ~6 ms
    // per round trip after 40 of them; a step's time outside compute fell from ~13 to ~8.5 ms over its first 50
    // steps with 1 worker, 18–23 → 11–13 ms with 2), and a real run is past that within seconds: warm every runner up first.
    const all = await compareRunners([...largeRunners, ...echoRunners], { warmupSteps: ctx.quick ? 8 : 50, steps: blockSteps, runs: ctx.runs, log: ctx.log });
    const large = all.slice(0, largeRunners.length);
    const echo = all.slice(largeRunners.length);
    const rows: string[][] = [];
    const largeNotes: string[] = [];
    const runnerOf = (mb: number, workers: number) => large[largeCfgs.findIndex((x) => x.mb === mb && x.workers === workers)]!;
    // Medians over a runner's steady steps: the slowest worker's compute, and the rest of the step.
    const computeMsOf = (r: (typeof large)[number]): number => (r.ok && r.blocks.length ? median(steadyReports(r).map((x) => x.computeMs)) : NaN);
    const overheadMsOf = (r: (typeof large)[number]): number => median(steadyReports(r).map((x) => x.ms - x.computeMs));
    largeCfgs.forEach((c, i) => {
      const r = large[i]!;
      if (!r.ok || r.blocks.length === 0) {
        rows.push([c.label, 'failed', '', '', '', '', '', '', '']);
        largeNotes.push(`${c.label}: ${r.error}`);
        notes.push(`${c.label}: ${r.error}`);
        return;
      }
      const one = runnerOf(c.mb, 1);
      const step = stepMs(r);
      const speedup = stepMs(one) / step;
      const comm = median(steadyReports(r).map((x) => x.commMs));
      const comp = computedBytes(largeRunners[i]!.paramCount, LARGE.batch, c.mb, c.workers);
      const out = perStep(r, (b) => b.bytesOut);
      const inn = perStep(r, (b) => b.bytesIn);
      rows.push([
        c.label,
        fmt(step),
        fmtInt((LARGE.batch * 1000) / step),
        c.workers === 1 ? '1×' : fmtRatio(speedup),
        fmt(computeMsOf(r)),
        fmt(overheadMsOf(r)),
        fmt(comm),
        `${fmtBytes(out)} + ${fmtBytes(inn)}`,
        `${fmtBytes(comp.toWorkers)} + ${fmtBytes(comp.fromWorkers)}`,
      ]);
      if (c.workers === 2) {
        // Each of 2 workers computes half the batch: its compute time should about halve. If it did not,
        // the workers never ran in parallel (the machine was busy) and the step time says nothing about scaling.
        const computeRatio = computeMsOf(r) / computeMsOf(one);
        const starved = computeRatio > 0.7;
        // What 2 workers would give if communication cost nothing: the machine's ceiling for this figure.
        const oneOverhead = overheadMsOf(one);
        const twoOverhead = overheadMsOf(r);
        summary.push({
          metric: `coordinator ${LARGE.name} b256 mb${c.mb}: 2 worker processes vs 1`,
          value: `${fmt(stepMs(one))} → ${fmt(step)} ms/step = ${fmtRatio(speedup)} (per-worker compute ×${fmt(computeRatio, 2)}, 0.5 = parallel: compute alone ${fmtRatio(1 / computeRatio)}; step − compute ${fmt(oneOverhead)} → ${fmt(twoOverhead)} ms)`,
          target: '≥ 1.7×',
          status: starved && speedup < 1.7 ? 'contended' : target(speedup, 1.7),
        });
        summary.push({
          metric: `coordinator ${LARGE.name} mb${c.mb}, 2 workers: step time not spent computing, loopback`,
          value: `${fmt(twoOverhead)} ms (StepReport.commMs ${fmt(comm)} ms)`,
        });
        if (c.mb === 32) summary.push({ metric: `coordinator ${LARGE.name}, 2 workers: bytes on the wire per step`, value: `${fmtBytes(out + inn)} (${fmtBytes(out)} params + tasks out, ${fmtBytes(inn)} gradients in)` });
      }
    });
    // The transport floor, and the speed-up the machine allows if a step cost only the slowest worker's compute and these transfers.
    const floor = echo.map((r) => (r.ok && r.blocks.length ? stepMs(r) : NaN));
    echo.forEach((r, k) => {
      rows.push([r.label, r.ok ? fmt(floor[k]!) : 'failed', '', '', '', '', '', r.ok ? `${fmtBytes(perStep(r, (b) => b.bytesOut))} + ${fmtBytes(perStep(r, (b) => b.bytesIn))}` : '', '']);
      if (!r.ok) largeNotes.push(`${r.label}: ${r.error}`);
    });
    for (const mb of [32, LARGE.batch / 2]) {
      const [c1, c2] = [computeMsOf(runnerOf(mb, 1)), computeMsOf(runnerOf(mb, 2))];
      summary.push({
        metric: `coordinator ${LARGE.name} mb${mb}: the ceiling — slowest compute + bare ws transfers (1 → 2 workers)`,
        value: `(${fmt(c1)} + ${fmt(floor[0]!)}) / (${fmt(c2)} + ${fmt(floor[1]!)}) ms = ${fmtRatio((c1 + floor[0]!) / (c2 + floor[1]!))}`,
      });
    }
    ctx.table({
      title: `coordinator — ${LARGE.name}, batch ${LARGE.batch}, SGD, worker processes with 1 thread each, ${kernelsLabel} kernels (median of ${ctx.runs} interleaved blocks × ${blockSteps} steps)`,
      headers: ['configuration', 'ms/step', 'samples/s', 'speed-up', 'slowest compute ms', 'step − compute ms', 'comm ms', 'wire/step out + in, measured', 'computed'],
      rows,
      notes: [
        'all four configurations and the two echo rows run side by side (a coordinator each, workers from `gradmesh worker --threads 1`); they take turns a block at a time, so they share the machine\'s load alike',
        `each runner first trains ${ctx.quick ? 8 : 20} steps unmeasured (a connection moves its first few dozen large frames slower); a block's first step is left out of ms/step and the step reports: its workers sat idle while the others took their turn (no real run pauses between steps)`,
        'step − compute = everything on the step\'s critical path that is not the slowest worker\'s computation: task and params messages, (de)serialisation and masking on both sides, transfer, reduction, SGD',
        'with 2 workers each computes half the batch, so its compute time should halve; where it did not, the workers did not get a core each and the speed-up is not measurable (flagged in the summary)',
        'comm ms = the coordinator\'s own StepReport.commMs (step − slowest compute − wait for the slowest beyond the median); it reads low when the workers\' compute times differ',
        'wire out + in = bytes the coordinator sent (params broadcast + tasks) + received (gradients) per step; measured on the server\'s TCP sockets, computed from encoded message sizes + WebSocket headers',
        `the ws echo rows are the transport floor: a ${fmtBytes(frameBytes)} frame and a small one to each of 1 or 2 Node processes, a ${fmtBytes(frameBytes)} reply from each (zero mask), nothing computed, encoded or validated; the summary's ceiling adds them to the workers' compute`,
        kernels ? `RunInfo.kernels = ${kernels} (the CLI default)` : 'the workers compute with the js kernels: this engine has no kernel choice yet',
        ...largeNotes,
      ],
    });
    data.large = Object.fromEntries(largeCfgs.map((c, i) => [c.label, large[i]]));

    // ---- 1b. the same model, 2 workers, with --compress none | fp16 | int8 --------------------------
    const compressed = await compressionRows(ctx, { kernels, blockSteps });
    summary.push(...compressed.summary);
    data.compress = compressed.data;

    // ---- 2. xor: per-step coordination overhead --------------------------------------------------
    const xorBlock = ctx.quick ? 100 : 200;
    // V8 optimizes the per-step code (ws, msgpackr, zod, the coordinator's bookkeeping) only
    // after a few thousand steps: until then a step costs 2–4× more, the bare ws echo's too.
    // The first block after start is kept as the cold figure; the timed blocks follow a warm-up
    // long enough to reach the steady state a training run spends its time in.
    const xorWarmup = ctx.quick ? 1000 : 4000;
    const xorRunners: Runner[] = [
      ...[1, 2].map((workers) => new CoordRunner({ label: `gradmesh, ${workers} worker${workers > 1 ? 's' : ''}`, dataset: 'xor', spec: XOR_SPEC, batch: 4, microBatch: 2, workers, ...(kernels ? { kernels } : {}) })),
      new EchoRunner(2),
    ];
    ctx.log(`coordinator: xor with 1 and 2 worker processes, and the ws echo floor (${xorWarmup} warm-up steps each)`);
    const xor = await compareRunners(xorRunners, { coldSteps: xorBlock, warmupSteps: xorWarmup, steps: xorBlock, runs: ctx.runs, log: ctx.log });
    const xorRows: string[][] = [];
    const xorNotes: string[] = [];
    const rate = (b: BlockRecord): number => (b.wallMs.length * 1000) / b.wallMs.reduce((s, x) => s + x, 0);
    xor.forEach((r, i) => {
      if (!r.ok || r.blocks.length === 0) {
        xorRows.push([r.label, 'failed', '', '', '', '']);
        xorNotes.push(`${r.label}: ${r.error}`);
        return;
      }
      const sps = median(r.blocks.map(rate));
      const cold = r.cold ? rate(r.cold) : NaN;
      const reports = steadyReports(r);
      xorRows.push([
        r.label,
        fmtInt(sps),
        fmt(1e6 / sps),
        fmtInt(cold),
        reports.length ? fmt(median(reports.map((x) => x.computeMs)) * 1000) : '',
        fmtBytes(perStep(r, (b) => b.bytesOut + b.bytesIn)),
      ]);
      if (i === 1) summary.push({ metric: 'coordinator xor, 2 workers: steps per second', value: `${fmtInt(sps)} (its first ${xorBlock} steps: ${fmtInt(cold)})`, target: '≥ 500', status: target(sps, 500) });
      if (i === 2) summary.push({ metric: 'coordinator: ws echo with 2 processes (transport floor for the above)', value: `${fmtInt(sps)} round trips/s (first ${xorBlock}: ${fmtInt(cold)})` });
    });
    ctx.table({
      title: `coordinator — per-step overhead on a tiny model (xor 2-8-2, batch 4, micro-batch 2; median of ${ctx.runs} interleaved blocks of ${xorBlock} steps after ${xorWarmup} warm-up steps)`,
      headers: ['runner', 'steps/s', 'µs/step', `first ${xorBlock} steps/s`, 'worker compute µs', 'wire/step'],
      rows: xorRows,
      notes: [
        'steps/s = block steps / block wall time; worker compute = the median shard\'s own compute time',
        `first ${xorBlock} steps/s = the block right after start, before the warm-up: V8 has not optimized the per-step JavaScript yet (with --no-opt the echo stays at its cold rate), so steps cost 2–4× more for the first few thousand`,
        'the echo row sends each of 2 Node processes two small ws frames (as params + task) and waits for one small reply from each: the fan-out/fan-in of a step with nothing computed, the floor for the gradmesh rows',
        ...xorNotes,
      ],
    });
    data.xor = xor;

    // ---- 3. coordinator cost alone: parts of one step, and growth ---------------------------------
    ctx.log('coordinator: in-process simulated workers (cost against parameters and workers)');
    // 42 = the xor model: the fixed per-step cost; then 10k to 10M.
    const paramsGrid = [42, 10_000, 100_000, 1_000_000, 10_000_000];
    const workersGrid = [1, 2, 4, 8, 16];
    const sim = await runOnce(
      { id: 'sim', label: 'simulated workers', module: SIM, factory: 'simCell', args: { params: paramsGrid, workers: workersGrid, batch: 256, microBatch: 16, runs: ctx.runs, blockMs: ctx.quick ? 150 : 300, partsParams: paramCountOf(LARGE) }, unitsPerStep: 1 },
      1,
      1_800_000,
    );
    if (!sim.ok) {
      notes.push(`simulated workers failed: ${sim.error}`);
    } else {
      const parts = sim.extra.parts as Array<{ part: string; us: number; perStep: number; group: 'reduce' | 'update' | 'wire' }>;
      const ledger = sim.extra.ledgerRecordUs as { full: number; empty: number };
      const coordUs = parts.reduce((s, p) => s + p.us * p.perStep, 0);
      const groupUs = (g: string): number => parts.filter((p) => p.group === g).reduce((s, p) => s + p.us * p.perStep, 0);
      const reduceUs = groupUs('reduce');
      ctx.table({
        title: `coordinator — where a 2-worker step of ${LARGE.name} (${fmtInt(paramCountOf(LARGE))} params) goes on the coordinator, µs (each part timed alone, median of ${ctx.runs})`,
        headers: ['part', 'µs each', '× per step', 'µs per step'],
        rows: [
          ...parts.map((p) => [p.part, fmt(p.us), String(p.perStep), fmt(p.us * p.perStep)]),
          ['reduction: 2 gradients in, one sum out (decode, validate, scan, add)', '', '', fmt(reduceUs)],
          ['update + broadcast (SGD, params encoded once for all workers)', '', '', fmt(groupUs('update'))],
          ['total on the coordinator', '', '', fmt(coordUs)],
        ],
        notes: [
          'CPU time per call, in a separate process on in-memory frames; the first gradient\'s share overlaps the other worker\'s compute in a real step, the last one\'s does not',
          `Ledger.record: ${fmt(ledger.empty)} µs per entry while the default ledger fills, ${fmt(ledger.full)} µs once it holds its 100,000 entries (a ring: the oldest entry is overwritten) — ×2 per worker per step`,
        ],
      });
      summary.push({
        metric: `coordinator: reducing 2 ${LARGE.name} gradients (decode, validate, scan, add), CPU per step`,
        value: `${fmt(reduceUs / 1000)} ms (+ ${fmt(groupUs('update') / 1000)} ms SGD and params encoding)`,
        target: '≤ 5 ms',
        status: reduceUs / 1000 <= 5 ? 'met' : 'missed',
      });

      const points = sim.extra.points as SimPoint[];
      const at = (P: number, k: number): SimPoint | undefined => points.find((p) => p.params === P && p.workers === k);
      ctx.table({
        title: `coordinator — coordinator CPU per step, ms, against parameters and simulated workers (batch 256, micro-batch 16; median of ${ctx.runs} blocks)`,
        headers: ['parameters', ...workersGrid.map((k) => `${k} worker${k > 1 ? 's' : ''}`), 'ns per param·worker (16 w)', `×${workersGrid.at(-1)} workers / ×1`],
        rows: paramsGrid.map((P) => [
          fmtInt(P),
          ...workersGrid.map((k) => fmt(at(P, k)?.ms ?? NaN)),
          fmt(((at(P, 16)?.ms ?? NaN) * 1e6) / (P * 16)),
          fmtRatio((at(P, 16)?.ms ?? NaN) / (at(P, 1)?.ms ?? NaN)),
        ]),
        notes: [
          'each cell drives the real Coordinator with in-process workers that answer at once; the server\'s per-message work (encode out, decode + validate in) is included, socket I/O, WebSocket masking and the workers\' encoding are not',
          'the ledger is unbounded here so every point measures the same state (see the Ledger.record note above for the default ledger once full)',
          'linear in parameters: ms/step grows ~10× per 10× params at every worker count; no worse than linear in workers: the 16-worker/1-worker ratio stays ≤ 16×',
        ],
      });
      const fits = workersGrid.map((k) => {
        const xs = paramsGrid.filter((P) => at(P, k));
        return { k, ...linearFit(xs, xs.map((P) => at(P, k)!.ms)) };
      });
      notes.push(`linear fits ms = a + b·P: ${fits.map((f) => `${f.k}w: b=${fmt(f.b * 1e6)} ns/param, r²=${f.r2.toFixed(4)}`).join('; ')}`);
      const big = paramsGrid.at(-1)!;
      const growthP = (at(big, 2)?.ms ?? NaN) / (at(big / 10, 2)?.ms ?? NaN);
      const growthK = (at(1_000_000, 16)?.ms ?? NaN) / (at(1_000_000, 1)?.ms ?? NaN);
      summary.push({ metric: 'coordinator cost vs parameters (2 workers, 1M → 10M)', value: `${fmtRatio(growthP)} for 10× params (linear: 10×; fit r² ${fits[1]!.r2.toFixed(3)})` });
      summary.push({ metric: 'coordinator cost vs workers (1M params, 1 → 16)', value: `${fmtRatio(growthK)} for 16× workers (linear: 16×)`, target: '≤ 16×', status: Number.isFinite(growthK) ? (growthK <= 16 * 1.1 ? 'met' : 'missed') : '' });
      summary.push({ metric: 'coordinator CPU per step, 2 simulated workers: xor-sized (42 params) / 10k params', value: `${fmt((at(42, 2)?.ms ?? NaN) * 1000)} µs / ${fmt((at(10_000, 2)?.ms ?? NaN) * 1000)} µs` });
      data.sim = { points, parts, fits, ledger };
    }
    return { summary, notes, data };
  },
};
