import { z } from 'zod';
import { MAX_COUNTER, MAX_NAME, MAX_TEXT } from './limits.js';
import { viewAs, type NumericArray, type NumericArrayType } from './typed-arrays.js';

/** Worker names, run ids, dataset and kernel names. */
export const name = z.string().min(1).max(MAX_NAME);
export const text = z.string().max(MAX_TEXT);
/** Steps, task ids, parameter versions: they only grow. */
export const counter = z.int().min(0).max(MAX_COUNTER);
export const intIn = (min: number, max: number) => z.int().min(min).max(max);
/** z.number() already refuses NaN and ±Infinity. */
export const numberIn = (min: number, max: number) => z.number().min(min).max(max);

/**
 * A typed array field. On the wire it is bin (a Uint8Array from the decoder);
 * in memory it is the typed array itself, so the same schema also accepts an
 * already-typed value. Bin is turned into the typed array by `viewAs`: a view
 * when aligned, one memcpy otherwise.
 */
export function typedArray<T extends NumericArray>(type: NumericArrayType<T>, maxLength: number) {
  const size = type.BYTES_PER_ELEMENT;
  return z
    .custom<Uint8Array | T>((v) => v instanceof Uint8Array || v instanceof type, {
      error: `expected ${type.name} bytes (MessagePack bin)`,
    })
    .transform((v, ctx): T => {
      if (v instanceof type) return v;
      const bytes = v as Uint8Array;
      if (bytes.byteLength % size !== 0) {
        ctx.issues.push({ code: 'custom', input: v, message: `byte length ${bytes.byteLength} is not a multiple of ${size}` });
        return z.NEVER;
      }
      if (bytes.byteLength / size > maxLength) {
        ctx.issues.push({ code: 'custom', input: v, message: `${bytes.byteLength / size} elements exceed the limit of ${maxLength}` });
        return z.NEVER;
      }
      return viewAs(type, bytes);
    });
}
