import { BufferPool } from '@gradmesh/engine';
import {
  addDequantized,
  allocQuantized,
  deltaFields,
  dequantize,
  gradientPayload,
  quantize,
  quantizedRows,
  type Compression,
  type GradientMessage,
  type ParamsDeltaMessage,
  type Quantized,
} from '@gradmesh/protocol';

// The coordinator's side of --compress fp16|int8 (the workers' side is in
// @gradmesh/client). Compression gives up the bit-identity guarantee: workers
// compute at the compressed view of the parameters, and each worker's
// gradient residual depends on which nodes it computed.

/**
 * A gradient's values as one float32 block per tree node: views of `grad`
 * as sent (uncompressed runs), or decoded into pooled buffers, so the
 * TreeAccumulator sums them exactly as it sums float32 gradients.
 */
export class GradientDecoder {
  private readonly pool: BufferPool;

  constructor(private readonly paramCount: number) {
    this.pool = new BufferPool(paramCount);
  }

  /** The first `count` nodes' values. Decoded buffers stay valid until release() or reset(). */
  parts(g: GradientMessage, count: number): Float32Array[] {
    const P = this.paramCount;
    const values = gradientPayload(g);
    return Array.from({ length: count }, (_, i) => {
      if (values.kind === 'none') return values.grad.subarray(i * P, (i + 1) * P);
      const buf = this.pool.take();
      dequantize(quantizedRows(values, i, i + 1, P), buf);
      return buf;
    });
  }

  /** A refused gradient's buffers go back at once: a peer resending garbage cannot grow the pool. */
  release(g: GradientMessage, parts: Float32Array[]): void {
    if (gradientPayload(g).kind === 'none') return;
    for (const buf of parts) this.pool.give(buf);
  }

  /** A new step: the last step's buffers (summed and applied by now) are free again. */
  reset(): void {
    this.pool.reset();
  }
}

/**
 * Parameters on the wire in a compressed run. `view` is what every worker
 * holds: the full parameters it was last sent plus every delta since. Each
 * step sends Q(params − view) and adds its decoded value to the view with
 * the protocol's addDequantized, the function the workers use, so the view
 * and their copies stay bit-identical; what quantization dropped stays in
 * params − view and goes out with the next step's delta (error feedback).
 */
export class ParamsView {
  readonly view: Float32Array;
  private readonly diff: Float32Array;
  private readonly q: Quantized;

  constructor(kind: Exclude<Compression, 'none'>, params: Float32Array) {
    this.view = params.slice();
    this.diff = new Float32Array(params.length);
    this.q = allocQuantized(kind, params.length);
  }

  /**
   * The delta taking the view from version `base` to `version`, the view
   * moved along. The message's arrays are reused by the next call: encode it
   * before then.
   */
  advance(params: Float32Array, base: number, version: number): ParamsDeltaMessage {
    const d = this.diff;
    const view = this.view;
    for (let i = 0; i < d.length; i++) d[i] = params[i]! - view[i]!;
    quantize(d, this.q);
    addDequantized(this.q, view, d);
    return { type: 'paramsDelta', version, base, ...deltaFields(this.q) };
  }
}
