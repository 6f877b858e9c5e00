import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync, openSync as open2 } from 'node:fs';
import { dirname, basename, join } from 'node:path';

/**
 * Writes a file atomically: temporary file in the same directory, fsync,
 * rename, fsync of the directory. A crash leaves the old file or the new one,
 * never half of one.
 */
export function writeFileAtomic(path: string, data: Uint8Array | string, afterPartialWrite?: () => void): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'w', 0o644);
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    if (afterPartialWrite) {
      // Fault injection: stop half-way through (tests kill the process here).
      const half = bytes.length >> 1;
      while (off < half) off += writeSync(fd, bytes, off, half - off);
      afterPartialWrite();
    }
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {}
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
  try {
    const dfd = open2(dirname(path), 'r');
    fsyncSync(dfd);
    closeSync(dfd);
  } catch {}
}

/** SHA-256 of parameters as little-endian float32 bytes (the run's fingerprint). */
export function paramsSha256(params: Float32Array): string {
  return createHash('sha256').update(new Uint8Array(params.buffer, params.byteOffset, params.byteLength)).digest('hex');
}
