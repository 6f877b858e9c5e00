/** A user error: printed as one line, exit code 2 (bad flag or value) or 1 (runtime). */
export class UsageError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
  }
}

export class RunError extends Error {
  readonly exitCode = 1;
}
