import type { RunInfo, TaskEngine, TaskMessage, TaskResult } from '@gradmesh/client';
import { createModel, type ModelSpec } from '@gradmesh/core';
import { decodeDatasetBinary } from '@gradmesh/data';
import { LocalEngine, loadPortableKernels, packNodes } from '@gradmesh/engine';
import { modelSpecSchema } from '@gradmesh/protocol';
import type { RunSummary } from './join-messages.js';

/**
 * The browser's engine: the Node worker's single-thread path (LocalEngine
 * over the run's dataset, downloaded once as GMDS bytes) in a Web Worker, so a
 * browser's gradients are bit-identical to a Node worker's.
 */
export class BrowserTaskEngine implements TaskEngine {
  private engine: LocalEngine | null = null;
  private run: RunInfo | null = null;

  constructor(
    /** The coordinator's HTTP origin, e.g. http://host:8080 (where the page came from). */
    private readonly origin: string,
    private readonly token: string,
    private readonly onRun: (run: RunSummary) => void = () => {},
    private readonly log: (line: string) => void = () => {},
  ) {}

  async setup(run: RunInfo): Promise<void> {
    this.engine = null;
    const parsed = modelSpecSchema.safeParse(run.spec);
    if (!parsed.success) throw new Error(`the coordinator sent an invalid model spec: ${parsed.error.issues[0]?.message}`);
    if (!run.datasetUrl) throw new Error(`run ${run.runId} serves no dataset over HTTP; a browser cannot load "${run.dataset}" by name`);
    // Browsers run the portable kernels: wasm (bit-identical to Node workers on wasm) or the JS reference.
    const family = run.kernels === 'js' ? 'js' : 'wasm';
    if (run.kernels === 'native') this.log('the run uses native kernels, which browsers lack; computing with wasm (same result up to the last bits)');
    // The coordinator names the dataset by the address it listens on (it may be
    // 0.0.0.0 or a loopback name this browser cannot reach); the page came from
    // the coordinator, so its path is fetched from the page's own origin.
    const given = new URL(run.datasetUrl, this.origin);
    const url = new URL(`${given.pathname}${given.search}`, this.origin);
    url.searchParams.set('token', this.token);
    const t0 = performance.now();
    const res = await fetch(url, { credentials: 'omit', cache: 'no-store' });
    if (!res.ok) throw new Error(`dataset download from ${url.origin}${url.pathname} failed: HTTP ${res.status}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const datasetMs = performance.now() - t0;
    const dataset = decodeDatasetBinary(bytes);
    const model = createModel(parsed.data as ModelSpec, loadPortableKernels(family, run.paramCount));
    if (model.inputs !== dataset.inputs || model.outputs !== dataset.outputs) {
      throw new Error(`model ${model.inputs}→${model.outputs} does not fit dataset ${dataset.name} (${dataset.inputs}→${dataset.outputs})`);
    }
    if (model.paramCount !== run.paramCount) throw new Error(`model has ${model.paramCount} parameters, the run ${run.paramCount}`);
    this.engine = new LocalEngine(model, dataset.train);
    this.run = run;
    this.log(`dataset ${run.dataset}: ${(bytes.byteLength / 1e6).toFixed(2)} MB in ${Math.round(datasetMs)} ms`);
    this.onRun({
      runId: run.runId,
      dataset: run.dataset,
      paramCount: run.paramCount,
      batch: run.batch,
      microBatch: run.microBatch,
      datasetBytes: bytes.byteLength,
      datasetMs,
    });
  }

  setParams(version: number, params: Float32Array): void {
    if (!this.engine) throw new Error('setParams before setup');
    this.engine.setParams(version, params);
  }

  async compute(task: TaskMessage): Promise<TaskResult> {
    const run = this.run;
    if (!this.engine || !run) throw new Error('compute before setup');
    const r = await this.engine.compute({
      step: task.step,
      batch: task.batch,
      microBatch: run.microBatch,
      mbLo: task.mbLo,
      mbHi: task.mbHi,
      indices: task.indices,
    });
    return { ...packNodes(r.nodes, run.paramCount), samples: r.samples, computeMs: r.computeMs };
  }
}
