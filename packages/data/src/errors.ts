/**
 * Every error this package throws on bad input is a DatasetError with a
 * machine-readable code; the message is one line a user can act on.
 */
export type DatasetErrorCode =
  | 'BAD_NAME' //      dataset name or options not understood
  | 'BAD_ARGUMENT' //  a function argument out of range
  | 'CSV_EMPTY' //     no header, or no data rows
  | 'CSV_SYNTAX' //    quoting / row shape
  | 'CSV_VALUE' //     a field that is not what its column needs
  | 'CSV_LABEL' //     label column missing or unusable
  | 'BAD_BINARY' //    not a GMDS file, unsupported version, corrupt
  | 'IO'; //           file could not be read or written

export interface DatasetErrorDetails {
  file?: string;
  line?: number;
  column?: string;
}

export class DatasetError extends Error {
  override readonly name = 'DatasetError';
  readonly code: DatasetErrorCode;
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly column: string | undefined;

  constructor(code: DatasetErrorCode, message: string, details: DatasetErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.file = details.file;
    this.line = details.line;
    this.column = details.column;
  }
}

/** Show a user's value in a message: quoted, and cut if long. */
export function quote(value: string, max = 40): string {
  const s = value.length > max ? `${value.slice(0, max)}…` : value;
  return JSON.stringify(s);
}
