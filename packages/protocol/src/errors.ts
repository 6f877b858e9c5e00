/**
 * Every error the protocol can report, in one table: the machine code sent on
 * the wire, a default message, the WebSocket close code used when the
 * connection is closed for it, whether the coordinator closes after sending it
 * (`fatal`), and whether a client may reconnect and try again (`retry`).
 *
 * Close codes: the standard one where it means exactly this (1001 going away,
 * 1007 invalid payload, 1009 too big, 1011 internal), else 4000+ (reserved for
 * applications by RFC 6455), one per code so a close alone identifies it.
 */
export const ERRORS = {
  BAD_FRAME: { message: 'Frame is not a well-formed MessagePack message', close: 1007, fatal: false, retry: true },
  BAD_MESSAGE: { message: 'Message does not match the protocol schema', close: 4000, fatal: false, retry: true },
  NOT_HELLO_FIRST: { message: 'The first message must be hello', close: 4001, fatal: true, retry: false },
  PROTOCOL_MISMATCH: { message: 'Protocol version mismatch', close: 4002, fatal: true, retry: false },
  UNAUTHORIZED: { message: 'Missing or wrong run token', close: 4003, fatal: true, retry: false },
  STALE_STEP: { message: 'Gradient is for a step that is already reduced', close: 4004, fatal: false, retry: true },
  UNKNOWN_TASK: { message: 'No such task is assigned to this worker', close: 4005, fatal: false, retry: true },
  WRONG_LENGTH: { message: 'Array length does not match the run', close: 4006, fatal: false, retry: true },
  NON_FINITE: { message: 'Gradient or loss contains NaN or Infinity', close: 4007, fatal: false, retry: true },
  RUN_INCOMPATIBLE: { message: 'This worker cannot take part in the run', close: 4008, fatal: true, retry: false },
  TOO_LARGE: { message: 'Message exceeds the size limit', close: 1009, fatal: true, retry: true },
  RATE_LIMITED: { message: 'Too many messages or connections', close: 4009, fatal: false, retry: true },
  SHUTTING_DOWN: { message: 'Coordinator is shutting down', close: 1001, fatal: true, retry: true },
  TASK_FAILED: { message: 'Worker failed to compute a task', close: 4010, fatal: false, retry: true },
  INTERNAL: { message: 'Internal error', close: 1011, fatal: false, retry: true },
} as const satisfies Record<string, ErrorSpec>;

export interface ErrorSpec {
  readonly message: string;
  readonly close: number;
  readonly fatal: boolean;
  readonly retry: boolean;
}

export type ErrorCode = keyof typeof ERRORS;

export const ERROR_CODES = Object.keys(ERRORS) as [ErrorCode, ...ErrorCode[]];

const byClose = new Map<number, ErrorCode>(ERROR_CODES.map((code) => [ERRORS[code].close, code]));

/** The error code a WebSocket close code stands for, if it is one of ours. */
export function errorCodeForClose(closeCode: number): ErrorCode | undefined {
  return byClose.get(closeCode);
}

/**
 * "Default message: detail", or the default alone. A detail that already
 * starts with the default (a decode failure's message, passed on as is) is
 * not prefixed twice.
 */
export function errorText(code: ErrorCode, detail?: string): string {
  const base = ERRORS[code].message;
  if (detail === undefined || detail === '') return base;
  return detail.startsWith(base) ? detail : `${base}: ${detail}`;
}

/**
 * An error carrying a protocol code, for code paths that throw or reject
 * (a client's `run()` rejects with one on UNAUTHORIZED, for example).
 */
export class ProtocolError extends Error {
  readonly code: ErrorCode;
  readonly closeCode: number;
  readonly fatal: boolean;
  readonly retry: boolean;

  constructor(code: ErrorCode, detail?: string) {
    super(errorText(code, detail));
    this.name = 'ProtocolError';
    this.code = code;
    this.closeCode = ERRORS[code].close;
    this.fatal = ERRORS[code].fatal;
    this.retry = ERRORS[code].retry;
  }
}
