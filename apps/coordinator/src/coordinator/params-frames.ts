/**
 * Buffers for the parameter broadcast, reused step after step. Each step's
 * parameters are copied into a snapshot whose bytes the sockets then write
 * as they are (a WebSocket fragment points at them: no frame is built), so
 * a snapshot must not change until every socket it went to has written it
 * out. A snapshot is reused once all its recipients have nothing queued (or
 * are gone); otherwise another is taken. Copying into a warm buffer costs a
 * quarter of building a fresh 2.7 MB frame, whose pages fault on first touch.
 */
export interface Recipient {
  /** Bytes accepted for sending but not yet written to the OS (0 once flushed or closed). */
  queued(): number;
}

interface Snapshot {
  data: Float32Array;
  sentTo: Recipient[];
}

/** Beyond this many snapshots in flight (slow readers), fresh ones are not kept. */
const MAX_KEPT = 4;

export class ParamsFrames {
  private readonly kept: Snapshot[] = [];

  /** A snapshot of `params` that `recipients` may hold on to until they have sent it. */
  take(params: Float32Array, recipients: Recipient[]): Float32Array {
    let s = this.kept.find((k) => k.data.length === params.length && k.sentTo.every((r) => r.queued() === 0));
    if (!s) {
      s = { data: new Float32Array(params.length), sentTo: [] };
      if (this.kept.length < MAX_KEPT) this.kept.push(s);
    }
    s.data.set(params);
    s.sentTo = recipients;
    return s.data;
  }

  /** Snapshots allocated and kept (for tests and diagnostics). */
  get size(): number {
    return this.kept.length;
  }
}
