import { describe, expect, test } from 'vitest';
import { LocalEngine, packNodes } from '@gradmesh/engine';
import { WorkerCompression } from '@gradmesh/client';
import {
  allocQuantized, decodeClientMessage, decodeServerMessage, encode, gradientFields, type Compression, type ErrorCode, type GradientMessage, type ServerMessage,
} from '@gradmesh/protocol';
import { Coordinator, type WorkerHandle } from '../src/coordinator/coordinator.js';
import { ParamsView } from '../src/coordinator/compression.js';
import { B, MB, ds, plan, reference, setup, spec } from './spirals-run.js';

type Kind = Exclude<Compression, 'none'>;
const KINDS: Kind[] = ['fp16', 'int8'];
const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe.each(KINDS)('parameters as deltas (%s)', (kind) => {
  test('a worker rebuilding them from the wire holds the coordinator\'s view bit for bit, and the view stays within one quantization step of the parameters', () => {
    const P = 1000;
    const params = Float32Array.from({ length: P }, (_, i) => Math.sin(i));
    const view = new ParamsView(kind, params);
    const worker = new WorkerCompression(kind, P);
    worker.adopt(0, view.view.slice());
    let worst = 0;
    let largestStep = 0;
    for (let step = 1; step <= 100; step++) {
      // An optimizer-like update: per-parameter sizes over three orders of magnitude.
      for (let i = 0; i < P; i++) {
        const u = Math.cos(step * 1.3 + i) * 10 ** (-2 - (i % 3));
        params[i] += u;
        largestStep = Math.max(largestStep, Math.abs(u));
      }
      const wire = decodeServerMessage(encode(view.advance(params, step - 1, step)));
      if (!wire.ok || wire.msg.type !== 'paramsDelta') throw new Error('the delta did not survive the wire');
      const held = worker.applyDelta(wire.msg);
      if (typeof held === 'string') throw new Error(held);
      expect(bits(held).equals(bits(view.view)), `step ${step}`).toBe(true);
      for (let i = 0; i < P; i++) worst = Math.max(worst, Math.abs(params[i]! - view.view[i]!));
    }
    // Error feedback: what a delta drops goes out with the next one, so the gap never accumulates.
    expect(worst).toBeLessThan(largestStep / 100);
  });
});

// ---- a compressed run in this process, with a worker that also sends bad gradients ----------

const STEPS = 40;

/** Every message through the codec, as on a socket: what arrives is what a remote peer would decode. */
function viaWire<T extends ServerMessage>(msg: T): ServerMessage {
  const r = decodeServerMessage(encode(msg));
  if (!r.ok) throw new Error(r.message);
  return r.msg;
}

/** Refused by the decoder (BAD_MESSAGE) or by the coordinator (its code), or null when accepted. */
function deliver(c: Coordinator, id: string, g: GradientMessage): ErrorCode | null {
  const r = decodeClientMessage(encode(g));
  return r.ok && r.msg.type === 'gradient' ? c.gradient(id, r.msg) : r.ok ? 'BAD_MESSAGE' : r.code;
}

/** `count` rows of `length` zeros in a form: well-formed for the schema, whatever the run. */
function zeros(kind: Kind, count: number, length: number): Partial<GradientMessage> {
  return gradientFields(allocQuantized(kind, length, count));
}

/** Gradients the coordinator must refuse, made from an honest one, and what it must answer. */
function hostile(honest: GradientMessage, plain: Float32Array, kind: Kind): Array<[string, GradientMessage, ErrorCode]> {
  const { gradF16: _f, gradI8: _i, gradScale: _s, ...head } = honest;
  const count = honest.nodes.length / 2;
  const P = plain.length / count;
  const other: Kind = kind === 'int8' ? 'fp16' : 'int8';
  const nan = structuredClone(gradientFields(kind === 'int8' ? { kind, i8: honest.gradI8!, scale: honest.gradScale! } : { kind, f16: honest.gradF16! }));
  if (nan.gradScale) nan.gradScale[0] = Number.NaN;
  if (nan.gradF16) nan.gradF16[P - 1] = 0x7e00;
  return [
    ['float32 in a compressed run', { ...head, grad: plain }, 'WRONG_LENGTH'],
    ['the other encoding', { ...head, ...zeros(other, count, P) }, 'WRONG_LENGTH'],
    ['one value short per node', { ...head, ...zeros(kind, count, P - 1) }, 'WRONG_LENGTH'],
    ['two forms at once', { ...honest, grad: plain }, 'BAD_MESSAGE'],
    ['NaN', { ...head, ...nan }, 'NON_FINITE'],
  ];
}

/** A worker in this process that speaks the compressed protocol; at one step it first tries every hostile variant. */
function compressedWorker(kind: Kind, c: () => Coordinator, id: () => string, tamperAt: number, refusals: Array<{ what: string; got: string; want: string }>) {
  const { model } = setup();
  const engine = new LocalEngine(model, ds.train);
  const codec = new WorkerCompression(kind, model.paramCount);
  const versions = new Map<number, Float32Array>();
  let chain = Promise.resolve();
  const handle: WorkerHandle = {
    send: (sent: ServerMessage) => {
      const msg = viaWire(sent);
      if (msg.type === 'params') versions.set(msg.version, codec.adopt(msg.version, msg.params).slice());
      if (msg.type === 'paramsDelta') {
        const held = codec.applyDelta(msg);
        if (typeof held === 'string') throw new Error(held);
        versions.set(msg.version, held);
      }
      if (msg.type !== 'task') return;
      chain = chain.then(async () => {
        engine.setParams(msg.paramsVersion, versions.get(msg.paramsVersion)!);
        const r = await engine.compute({ step: msg.step, batch: msg.batch, microBatch: MB, mbLo: msg.mbLo, mbHi: msg.mbHi, indices: msg.indices.slice() });
        const packed = packNodes(r.nodes, model.paramCount);
        const plain = packed.grad.slice();
        const honest: GradientMessage = { type: 'gradient', step: msg.step, taskId: msg.taskId, samples: r.samples, computeMs: 1, nodes: packed.nodes, losses: packed.losses, ...gradientFields(codec.encode(plain, r.nodes.length)) };
        if (msg.step === tamperAt) {
          for (const [what, g, want] of hostile(honest, plain, kind)) refusals.push({ what, got: deliver(c(), id(), g) ?? 'accepted', want });
        }
        const code = deliver(c(), id(), honest);
        if (code) throw new Error(`gradient refused: ${code}`);
      });
    },
    close: () => {},
  };
  return { handle, versions };
}

describe.each(KINDS)('a compressed run (%s)', (kind) => {
  test('refuses gradients of the wrong form, length or finiteness and goes on; trains like float32; newcomers get the view the others hold', { timeout: 20_000 }, async () => {
    const { params, optimizer } = setup();
    const start = params.slice();
    const coord: Coordinator = new Coordinator({
      run: { runId: 'r', dataset: 'spirals', datasetUrl: null, spec: spec as never, paramCount: params.length, batch: B, microBatch: MB, seed: 1, compress: kind },
      params,
      optimizer,
      plan,
      startStep: 0,
      totalSteps: STEPS,
      minWorkers: 2,
    });
    const ids: string[] = [];
    const refusals: Array<{ what: string; got: string; want: string }> = [];
    const workers = [0, 1].map((w) => compressedWorker(kind, () => coord, () => ids[w]!, w === 0 ? 3 : -1, refusals));
    for (const w of workers) ids.push(coord.join(w.handle, { type: 'hello', protocol: 1, name: 'w', kind: 'node', threads: 1 }).id);
    await coord.run();
    expect(coord.step).toBe(STEPS);
    expect(refusals).toHaveLength(5);
    expect(refusals.filter((r) => r.got !== r.want)).toEqual([]);

    // Close to the uncompressed run, measured against how far training moved the parameters.
    const ref = await reference(STEPS);
    const dist = (a: Float32Array, b: Float32Array) => Math.hypot(...Array.from(a, (x, i) => x - b[i]!));
    expect(dist(params, ref) / dist(ref, start)).toBeLessThan(0.05);

    // A worker joining now is sent the full view; the others built the same bits from deltas.
    const late = compressedWorker(kind, () => coord, () => 'late', -1, refusals);
    coord.join(late.handle, { type: 'hello', protocol: 1, name: 'late', kind: 'node', threads: 1 });
    expect(bits(late.versions.get(STEPS)!).equals(bits(workers[0]!.versions.get(STEPS)!))).toBe(true);
    expect(bits(late.versions.get(STEPS)!).equals(bits(params))).toBe(false);
  });
});
