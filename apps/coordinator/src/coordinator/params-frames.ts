import { encode, type ServerMessage } from '@gradmesh/protocol';

/**
 * Frame buffers for the parameter broadcast, reused step after step. A
 * frame handed to the sockets is written out as it is (no copy), so it must
 * not change until every socket it went to has written it; a buffer is
 * reused once all its recipients have nothing queued (or are gone), and
 * another is taken otherwise. Encoding into warm memory costs a fraction of
 * a fresh 2.7 MB frame, whose pages fault on first touch.
 */
export interface Recipient {
  /** Bytes accepted for sending but not yet written to the OS (0 once flushed or closed). */
  queued(): number;
}

interface Kept {
  frame: Uint8Array;
  sentTo: Recipient[];
}

/** Beyond this many frames in flight (slow readers), fresh ones are not kept. */
const MAX_KEPT = 4;

const ownsBuffer = (b: Uint8Array): boolean => b.byteOffset === 0 && b.byteLength === b.buffer.byteLength;

export class ParamsFrames {
  private readonly kept: Kept[] = [];

  /** `msg` encoded into a buffer that `recipients` may read until they have sent it. */
  encode(msg: ServerMessage, recipients: Recipient[]): Uint8Array {
    const free = this.kept.find((k) => k.sentTo.every((r) => r.queued() === 0));
    const frame = encode(msg, free?.frame);
    // Only a frame in a buffer of its own is kept (a small one may share msgpackr's).
    if (!ownsBuffer(frame)) return frame;
    if (free) {
      free.frame = frame; // the same buffer, or a larger fresh one that replaces it
      free.sentTo = recipients;
    } else if (this.kept.length < MAX_KEPT) {
      this.kept.push({ frame, sentTo: recipients });
    }
    return frame;
  }

  /** Buffers kept (for tests and diagnostics). */
  get size(): number {
    return this.kept.length;
  }
}
