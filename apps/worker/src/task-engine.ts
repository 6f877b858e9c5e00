import { paramLayout, type ModelSpec } from '@gradmesh/core';
import { KERNEL_CHOICES, LocalEngine, type GradientEngine, type KernelChoice } from '@gradmesh/engine';
import { buildContext, loadKernels, PoolEngine, type ContextSpec } from '@gradmesh/engine/node';
import { modelSpecSchema, type RunInfo, type TaskMessage } from '@gradmesh/protocol';
import type { TaskEngine } from '@gradmesh/client';
import { packNodes } from '@gradmesh/engine';

/** Test hook: GRADMESH_FAULT_GRAD_SCALE=-1000 makes this worker send its gradients scaled (a hostile worker). */
const hostileScale = Number(process.env.GRADMESH_FAULT_GRAD_SCALE ?? 1);

/**
 * The Node worker's engine: the run's dataset downloaded once from the
 * coordinator into shared memory, and a thread pool (or one thread) computing
 * each task's micro-batches.
 */
export class NodeTaskEngine implements TaskEngine {
  private engine: GradientEngine | null = null;
  private run: RunInfo | null = null;

  constructor(
    private readonly threads: number,
    private readonly token: string,
    private readonly log: (line: string) => void = () => {},
    /** The coordinator's ws:// address: a relative datasetUrl is fetched from the same host. */
    private readonly coordinatorUrl = 'http://127.0.0.1/',
  ) {}

  async setup(run: RunInfo): Promise<void> {
    await this.engine?.close();
    this.engine = null;
    const parsed = modelSpecSchema.safeParse(run.spec);
    if (!parsed.success) throw new Error(`the coordinator sent an invalid model spec: ${parsed.error.issues[0]?.message}`);
    const spec = parsed.data as ModelSpec;
    const ctx: ContextSpec = { dataset: run.dataset, spec, kernels: this.kernelsFor(run, spec) };
    if (run.datasetUrl) {
      const url = new URL(run.datasetUrl, this.coordinatorUrl.replace(/^ws/, 'http'));
      url.searchParams.set('token', this.token);
      const t0 = performance.now();
      const res = await fetch(url);
      if (!res.ok) throw new Error(`dataset download from ${url.origin}${url.pathname} failed: HTTP ${res.status}`);
      const bytes = new Uint8Array(await res.arrayBuffer());
      const sab = new SharedArrayBuffer(bytes.byteLength);
      new Uint8Array(sab).set(bytes);
      ctx.datasetBytes = sab;
      this.log(`dataset ${run.dataset}: ${(bytes.byteLength / 1e6).toFixed(1)} MB in ${Math.round(performance.now() - t0)} ms`);
    }
    if (this.threads > 1) {
      this.engine = new PoolEngine({ threads: this.threads, paramCount: run.paramCount, context: ctx });
    } else {
      const c = await buildContext(ctx);
      if (c.model.paramCount !== run.paramCount) throw new Error(`model has ${c.model.paramCount} parameters, the run ${run.paramCount}`);
      this.engine = new LocalEngine(c.model, c.data);
    }
    this.run = run;
  }

  /** The run's kernel family; a worker without the native addon computes with wasm (correct, but not bit-identical). */
  private kernelsFor(run: RunInfo, spec: ModelSpec): KernelChoice {
    const want = (run.kernels ?? 'wasm') as KernelChoice;
    if (!(KERNEL_CHOICES as readonly string[]).includes(want)) throw new Error(`the run asks for unknown kernels "${want}"`);
    try {
      loadKernels(want, paramLayout(spec).paramCount);
      return want;
    } catch (err) {
      this.log(`${(err as Error).message}; computing with wasm kernels instead (results will differ from the run's in the last bits)`);
      return 'wasm';
    }
  }

  setParams(version: number, params: Float32Array): void {
    this.engine!.setParams(version, params);
  }

  async compute(task: TaskMessage): Promise<{ nodes: Uint32Array; losses: Float64Array; grad: Float32Array; samples: number; computeMs: number }> {
    const run = this.run!;
    const r = await this.engine!.compute({
      step: task.step,
      batch: task.batch,
      microBatch: run.microBatch,
      mbLo: task.mbLo,
      mbHi: task.mbHi,
      indices: task.indices,
    });
    const packed = packNodes(r.nodes, run.paramCount);
    if (hostileScale !== 1) {
      // Fault injection for robustness tests: behave like a hostile worker.
      const g = packed.grad.slice();
      for (let i = 0; i < g.length; i++) g[i] *= hostileScale;
      packed.grad = g;
    }
    return { ...packed, samples: r.samples, computeMs: r.computeMs };
  }

  async close(): Promise<void> {
    await this.engine?.close();
    this.engine = null;
  }
}
