/**
 * TextEncoder/TextDecoder exist in browsers, workers and Node, but this
 * package type-checks against plain ES2022 (no DOM or Node typings), so they
 * are reached through globalThis with the little typing we need.
 */
interface Utf8Globals {
  TextEncoder: new () => { encode(s: string): Uint8Array };
  TextDecoder: new (label: string, opts: { fatal: boolean }) => { decode(b: Uint8Array): string };
}
const g = globalThis as unknown as Utf8Globals;

export function encodeUtf8(s: string): Uint8Array {
  return new g.TextEncoder().encode(s);
}

/** Throws on malformed UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string {
  return new g.TextDecoder('utf-8', { fatal: true }).decode(bytes);
}
