import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** bench/ */
export const BENCH = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The workspace root. */
export const REPO = join(BENCH, '..');

/** A module of the bench as an import()-able URL. */
export function benchModule(rel: string): string {
  return new URL(`../${rel}`, import.meta.url).href;
}
