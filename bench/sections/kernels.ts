/**
 * Section `kernels`: single-thread training throughput of gradmesh (every
 * kernel set that loads) next to TensorFlow.js (pure-JS CPU backend and WASM
 * backend with model.fit, and WASM with hand-written backprop), plus the
 * one-thread sgemm limit when OpenBLAS is installed.
 */
import { compareCells, type CellResult, type CellSpec } from '../lib/cells.js';
import { fmt, fmtInt, fmtPct, fmtRatio } from '../lib/format.js';
import { availableKernels } from '../lib/kernel-sets.js';
import { FLOPS_FORMULA, LARGE, SMALL, flopsPerSample, type Arch } from '../lib/models.js';
import { benchModule } from '../lib/paths.js';
import { target, type Ctx, type Section, type SectionResult, type SummaryRow } from '../lib/section.js';
import { sgemmLimit } from './sgemm.js';

const CELLS = benchModule('sections/kernels-cells.ts');
const BROWSER_CELLS = benchModule('sections/kernels-browser.ts');

interface Impl {
  id: string;
  label: string;
  /** The cell module (default: kernels-cells.ts). */
  module?: string;
  factory: string;
  args: Record<string, unknown>;
  gradmesh: boolean;
}

export const kernels: Section = {
  name: 'kernels',
  title: 'Single-thread training throughput (synthetic:784x10, relu + softmax cross-entropy, plain SGD)',
  async run(ctx: Ctx): Promise<SectionResult> {
    const notes: string[] = [];
    const avail = await availableKernels();
    notes.push(...avail.notes);
    const impls: Impl[] = [
      ...avail.names.map((k) => ({ id: `gradmesh-${k.name}`, label: `gradmesh ${k.label} kernels`, factory: 'gradmesh', args: { kernels: k.name }, gradmesh: true })),
      { id: 'gradmesh-js-mb32', label: 'gradmesh js, micro-batch 32 (CLI default)', factory: 'gradmesh', args: { kernels: 'js', microBatch: 32 }, gradmesh: true },
      // What a browser that opens the join link computes with: wasm kernels in a Web Worker.
      { id: 'browser-wasm', label: 'gradmesh wasm kernels in Chromium (Web Worker)', module: BROWSER_CELLS, factory: 'browserTrain', args: { kernels: 'wasm' }, gradmesh: true },
      { id: 'tfjs-cpu-fit', label: 'TF.js cpu backend (pure JS), model.fit', factory: 'tfFit', args: { backend: 'cpu' }, gradmesh: false },
      { id: 'tfjs-wasm-fit', label: 'TF.js wasm backend, model.fit', factory: 'tfFit', args: { backend: 'wasm' }, gradmesh: false },
      { id: 'tfjs-wasm-hand', label: 'TF.js wasm, hand-written backprop (its best case)', factory: 'tfHand', args: { backend: 'wasm' }, gradmesh: false },
    ];
    const archs: Arch[] = [SMALL, LARGE];
    const results = new Map<string, CellResult[]>();
    for (const arch of archs) {
      ctx.log(`kernels: ${arch.name}, batch ${arch.batch}: ${impls.length} implementations, ${ctx.runs} interleaved runs each`);
      const specs: CellSpec[] = impls.map((i) => ({
        id: i.id,
        label: i.label,
        module: i.module ?? CELLS,
        factory: i.factory,
        args: { ...i.args, arch },
        unitsPerStep: arch.batch,
      }));
      results.set(arch.name, await compareCells(specs, { runs: ctx.runs, blockMs: ctx.blockMs, warmupMs: ctx.warmupMs, log: ctx.log }));
    }

    ctx.log('kernels: OpenBLAS sgemm limit');
    const sgemm = sgemmLimit(4096, ctx.quick ? 3 : 5);
    if (sgemm.note) notes.push(`sgemm: ${sgemm.note}`);
    if (sgemm.ok && sgemm.cpuShare! < 0.95) {
      notes.push(`sgemm had ${fmt(sgemm.cpuShare!, 2)} of a core while timed: per CPU-second it ran at ${fmt(sgemm.gflops! / sgemm.cpuShare!)} GFLOP/s (the % sgemm column uses the wall-clock figure, like the rows it divides)`);
    }
    const limit = sgemm.ok ? sgemm.gflops! : NaN;

    const best = (arch: Arch): CellResult | undefined => results.get(arch.name)!.find((c) => c.id === 'tfjs-wasm-hand' && c.ok);
    const fit = (arch: Arch): CellResult | undefined => results.get(arch.name)!.find((c) => c.id === 'tfjs-wasm-fit' && c.ok);
    const rows = impls.map((impl) => {
      const row = [impl.label];
      for (const arch of archs) {
        const c = results.get(arch.name)!.find((r) => r.id === impl.id)!;
        const gf = (c.median * flopsPerSample(arch)) / 1e9;
        row.push(
          c.ok ? fmtInt(c.median) : 'n/a',
          c.ok ? `±${fmtPct(c.spread / 2, 0)}` : '',
          c.ok ? fmt(gf) : '',
          c.ok && Number.isFinite(limit) ? fmtPct(gf / limit) : '',
          c.ok && best(arch) ? fmtRatio(c.median / best(arch)!.median) : '',
          c.ok ? fmt(c.cpuShare, 2) : '',
        );
      }
      return row;
    });
    if (sgemm.ok) {
      const row = [`OpenBLAS sgemm n=${sgemm.n}, 1 thread (${sgemm.core})`];
      for (let i = 0; i < archs.length; i++) row.push('', `±${fmtPct(sgemm.spread! / 2, 0)}`, fmt(limit), '100%', '', fmt(sgemm.cpuShare ?? NaN, 2));
      rows.push(row);
    }
    ctx.table({
      title: `kernels — samples/s (median of ${ctx.runs} interleaved runs after warm-up), one thread`,
      headers: ['implementation', ...archs.flatMap((a) => [`${a.name} b${a.batch}`, 'spread', 'GFLOP/s', '% sgemm', 'vs TF best', 'core'])],
      rows,
      notes: [
        `GFLOP/s counts ${FLOPS_FORMULA}: ${fmtInt(flopsPerSample(SMALL))} flops/sample for ${SMALL.name}, ${fmtInt(flopsPerSample(LARGE))} for ${LARGE.name}`,
        'spread = ±half the (max − min)/median of the timed runs; the machine is shared, so medians, not means',
        'core = CPU time / wall time of the cell\'s process while timed (1.00 = it had a core to itself; lower = other work took it, and the figure understates the code)',
        '"vs TF best" = samples/s over TF.js wasm hand-written backprop measured in the same run (target for gradmesh: ≥ 2×)',
        'gradmesh rows run the production step (Trainer + LocalEngine: gather, forward, backward, canonical tree, SGD); TF.js fit shuffles, as gradmesh does',
        'the Chromium row runs that step in a Web Worker of Debian\'s chromium (headless), timed inside the worker; its core column is the CPU of all the browser\'s processes; TF.js rows run in Node',
        ...notes,
      ],
    });
    for (const arch of archs) {
      for (const c of results.get(arch.name)!) if (!c.ok) notes.push(`${arch.name}: ${c.label}: ${c.error}`);
    }
    // The same runs per CPU-second: on a shared machine, what each implementation does with the core time it got.
    ctx.table({
      title: 'kernels — the same runs in samples per CPU-second of the cell\'s process (contention-corrected view)',
      headers: ['implementation', ...archs.flatMap((a) => [`${a.name} b${a.batch}`, 'vs TF best'])],
      rows: impls.map((impl) => [
        impl.label,
        ...archs.flatMap((arch) => {
          const c = results.get(arch.name)!.find((r) => r.id === impl.id)!;
          const b = best(arch);
          return c.ok ? [fmtInt(c.cpuMedian), b ? fmtRatio(c.cpuMedian / b.cpuMedian) : ''] : ['n/a', ''];
        }),
      ]),
      notes: ['CPU time counts every thread of the process (GC helpers included); one-thread cells that had their core read the same here as above'],
    });

    const summary: SummaryRow[] = [];
    for (const arch of archs) {
      const gm = results
        .get(arch.name)!
        .filter((c) => c.ok && c.id.startsWith('gradmesh-') && c.id !== 'gradmesh-js-mb32') // Node, one micro-batch per step
        .sort((a, b) => b.median - a.median)[0];
      const tb = best(arch);
      const tf = fit(arch);
      if (gm && tb) {
        const ratio = gm.median / tb.median;
        summary.push({
          metric: `kernels ${arch.name} b${arch.batch}: gradmesh (${gm.info?.kernels}) vs TF.js best case`,
          value: `${fmtInt(gm.median)} vs ${fmtInt(tb.median)} samples/s = ${fmtRatio(ratio)} (per CPU-s: ${fmtRatio(gm.cpuMedian / tb.cpuMedian)})`,
          target: '≥ 2×',
          status: target(ratio, 2),
        });
      }
      const br = results.get(arch.name)!.find((c) => c.id === 'browser-wasm');
      if (br?.ok && tb) {
        const ratio = br.median / tb.median;
        summary.push({
          metric: `kernels ${arch.name} b${arch.batch}: gradmesh wasm in Chromium vs TF.js best case (Node)`,
          value: `${fmtInt(br.median)} vs ${fmtInt(tb.median)} samples/s = ${fmtRatio(ratio)}`,
          target: '≥ 1×',
          status: target(ratio, 1),
        });
      } else if (br && !br.ok) {
        summary.push({ metric: `kernels ${arch.name} b${arch.batch}: gradmesh wasm in Chromium vs TF.js best case (Node)`, value: `not measured: ${br.error?.split('\n')[0]}`, target: '≥ 1×', status: 'missed' });
      }
      if (gm && tf) {
        summary.push({ metric: `kernels ${arch.name}: gradmesh vs TF.js wasm model.fit`, value: fmtRatio(gm.median / tf.median) });
      }
      if (gm && Number.isFinite(limit)) {
        summary.push({ metric: `kernels ${arch.name}: gradmesh GFLOP/s of sgemm limit`, value: `${fmt((gm.median * flopsPerSample(arch)) / 1e9)} of ${fmt(limit)} = ${fmtPct((gm.median * flopsPerSample(arch)) / 1e9 / limit)}` });
      }
    }
    return {
      summary,
      notes,
      data: {
        flopsFormula: FLOPS_FORMULA,
        flopsPerSample: Object.fromEntries(archs.map((a) => [a.name, flopsPerSample(a)])),
        results: Object.fromEntries([...results].map(([k, v]) => [k, v])),
        sgemm,
      },
    };
  },
};
