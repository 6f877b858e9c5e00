import { DatasetError } from '../errors.js';

/** Throw BAD_ARGUMENT unless value is an integer in [min, max]. */
export function checkInt(what: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!(Number.isInteger(value) && value >= min && value <= max)) {
    throw new DatasetError('BAD_ARGUMENT', `${what} must be an integer in ${min}..${max}, got ${value}`);
  }
}

/** Throw BAD_ARGUMENT unless value is finite and >= 0. */
export function checkNonNegative(what: string, value: number): void {
  if (!(Number.isFinite(value) && value >= 0)) {
    throw new DatasetError('BAD_ARGUMENT', `${what} must be a finite number >= 0, got ${value}`);
  }
}

/**
 * Largest number of float32 values one generated array may hold (1 GiB):
 * a typo like synthetic:784x10:6000000000 fails fast instead of exhausting memory.
 */
export const MAX_GENERATED_VALUES = 2 ** 28;
