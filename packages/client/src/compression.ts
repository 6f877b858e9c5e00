import {
  addDequantized,
  allocQuantized,
  deltaPayload,
  dequantize,
  isFiniteArray,
  quantize,
  quantizedLength,
  quantizedRows,
  type Compression,
  type ParamsDeltaMessage,
  type Quantized,
} from '@gradmesh/protocol';

/**
 * The worker's side of a compressed run (RunInfo.compress fp16 or int8).
 *
 * Parameters: the worker holds the coordinator's `view` — the last full
 * params plus every delta since, added in order with the protocol's
 * addDequantized, exactly as the coordinator adds them — and computes
 * gradients at it (not at the coordinator's exact parameters).
 *
 * Gradients, with error feedback: one residual r (paramCount floats) carries
 * what quantization lost into the next message. For a message's nodes,
 * e = g + r for the first node and e = g for the others; each e is sent as
 * Q(e), and r becomes the sum over the nodes of e − deQ(Q(e)). So the values
 * the coordinator receives over k messages add up to the true gradients
 * minus the final residual: nothing is lost, only delayed.
 *
 * A compressed run gives up bit-identity with single-process training: which
 * worker computed which nodes decides what its residual holds.
 */
export class WorkerCompression {
  readonly #paramCount: number;
  readonly #kind: Exclude<Compression, 'none'>;
  #view: Float32Array;
  #viewVersion: number | null = null;
  #residual: Float32Array;
  #nextResidual: Float32Array;
  /** Scratch: one node's e, and its decoded values. */
  readonly #e: Float32Array;
  readonly #decoded: Float32Array;
  /** The encoded message, room for the most nodes seen so far. */
  #out: { rows: number; q: Quantized } | null = null;

  constructor(kind: Exclude<Compression, 'none'>, paramCount: number) {
    this.#kind = kind;
    this.#paramCount = paramCount;
    this.#view = new Float32Array(paramCount);
    this.#residual = new Float32Array(paramCount);
    this.#nextResidual = new Float32Array(paramCount);
    this.#e = new Float32Array(paramCount);
    this.#decoded = new Float32Array(paramCount);
  }

  /** Full parameters arrived: they are the view now. Returns them for the engine. */
  adopt(version: number, params: Float32Array): Float32Array {
    this.#view.set(params);
    this.#viewVersion = version;
    return params;
  }

  /**
   * view += the decoded delta. Returns a copy of the new view for the engine
   * (the scheduler may hold several versions), or why the delta cannot apply.
   */
  applyDelta(msg: ParamsDeltaMessage): Float32Array | string {
    if (msg.base !== this.#viewVersion) return `paramsDelta v${msg.version} is based on v${msg.base}, but this worker holds ${this.#viewVersion === null ? 'none' : `v${this.#viewVersion}`}`;
    const q = deltaPayload(msg);
    const length = quantizedLength(q);
    if (length !== this.#paramCount) return `paramsDelta v${msg.version} has ${length} values; the run has ${this.#paramCount} parameters`;
    addDequantized(q, this.#view, this.#decoded);
    this.#viewVersion = msg.version;
    return this.#view.slice();
  }

  /**
   * `grad` (count nodes × paramCount floats) encoded with error feedback.
   * The result is reused by the next call: encode it into a frame first.
   */
  encode(grad: Float32Array, count: number): Quantized {
    const P = this.#paramCount;
    const q = this.#output(count);
    const e = this.#e;
    const d = this.#decoded;
    const next = this.#nextResidual;
    for (let i = 0; i < count; i++) {
      const g = grad.subarray(i * P, (i + 1) * P);
      if (i === 0) for (let j = 0; j < P; j++) e[j] = g[j]! + this.#residual[j]!;
      else e.set(g);
      const row = quantizedRows(q, i, i + 1, P);
      quantize(e, row);
      dequantize(row, d);
      if (i === 0) for (let j = 0; j < P; j++) next[j] = e[j]! - d[j]!;
      else for (let j = 0; j < P; j++) next[j] += e[j]! - d[j]!;
    }
    // A non-finite gradient is sent as such (the coordinator refuses it); it must not poison later ones.
    if (!isFiniteArray(next)) next.fill(0);
    this.#nextResidual = this.#residual;
    this.#residual = next;
    return q;
  }

  /** What quantization has lost so far and the next message will carry (for tests). */
  get residual(): Float32Array {
    return this.#residual;
  }

  #output(rows: number): Quantized {
    if (this.#out === null || this.#out.rows < rows) this.#out = { rows, q: allocQuantized(this.#kind, this.#paramCount, rows) };
    return quantizedRows(this.#out.q, 0, rows, this.#paramCount);
  }
}
