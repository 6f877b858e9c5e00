import type { ErrorCode } from '@gradmesh/protocol';

/**
 * Why run() rejected: a terminal protocol code (UNAUTHORIZED, also for an HTTP
 * 401/403 refusal at upgrade; PROTOCOL_MISMATCH; RUN_INCOMPATIBLE;
 * NOT_HELLO_FIRST), or one of the client's own:
 * - UNREACHABLE: reconnect attempts exhausted;
 * - SETUP_FAILED: engine.setup rejected.
 */
export type ClientFailureCode = ErrorCode | 'UNREACHABLE' | 'SETUP_FAILED';

export class WorkerClientError extends Error {
  readonly code: ClientFailureCode;

  constructor(code: ClientFailureCode, message: string) {
    super(message);
    this.name = 'WorkerClientError';
    this.code = code;
  }
}
