import { MAX_NAME, MAX_THREADS, WORKER_KINDS } from '@gradmesh/protocol';
import type { WorkerClientOptions } from './types.js';

export interface ResolvedOptions extends WorkerClientOptions {
  urlWithToken: string;
  initialMs: number;
  maxMs: number;
  maxAttempts: number;
  connectTimeoutMs: number;
  random: () => number;
}

/**
 * Checks each option with a precise TypeError, and fills in defaults. Worth
 * the lines: a browser page passing a string for `threads` should hear so at
 * construction, not as a BAD_MESSAGE from the coordinator.
 */
export function validateOptions(options: WorkerClientOptions): ResolvedOptions {
  const o = options;
  if (typeof o !== 'object' || o === null) throw new TypeError('options must be an object');
  if (typeof o.url !== 'string' || !/^wss?:\/\/[^\s]+$/i.test(o.url)) {
    throw new TypeError('options.url must be a ws:// or wss:// URL');
  }
  if (typeof o.token !== 'string') throw new TypeError('options.token must be a string');
  if (typeof o.name !== 'string' || o.name.length < 1 || o.name.length > MAX_NAME) {
    throw new TypeError(`options.name must be a string of 1 to ${MAX_NAME} characters`);
  }
  if (!(WORKER_KINDS as readonly string[]).includes(o.kind)) throw new TypeError(`options.kind must be one of ${WORKER_KINDS.join(', ')}`);
  if (!Number.isInteger(o.threads) || o.threads < 1 || o.threads > MAX_THREADS) {
    throw new TypeError(`options.threads must be an integer from 1 to ${MAX_THREADS}`);
  }
  const e = o.engine;
  if (typeof e !== 'object' || e === null || typeof e.setup !== 'function' || typeof e.setParams !== 'function' || typeof e.compute !== 'function') {
    throw new TypeError('options.engine must have setup, setParams and compute methods');
  }
  if (typeof o.WebSocket !== 'function') throw new TypeError('options.WebSocket must be a WebSocket constructor');
  if (o.speed !== undefined && !(Number.isFinite(o.speed) && o.speed >= 0)) throw new TypeError('options.speed must be a non-negative number');
  for (const key of ['log', 'onStatus', 'random', 'sendFrame'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'function') throw new TypeError(`options.${key} must be a function`);
  }
  const r = o.reconnect ?? {};
  const initialMs = positive(r.initialMs, 250, 'options.reconnect.initialMs');
  const maxMs = positive(r.maxMs, 10_000, 'options.reconnect.maxMs');
  if (maxMs < initialMs) throw new TypeError('options.reconnect.maxMs must not be below initialMs');
  const maxAttempts = r.maxAttempts ?? 20;
  if (!(maxAttempts === Number.POSITIVE_INFINITY || (Number.isInteger(maxAttempts) && maxAttempts >= 0))) {
    throw new TypeError('options.reconnect.maxAttempts must be a non-negative integer or Infinity');
  }
  const token = o.token === '' ? '' : `${o.url.includes('?') ? '&' : '?'}token=${encodeURIComponent(o.token)}`;
  return {
    ...o,
    urlWithToken: o.url + token,
    initialMs,
    maxMs,
    maxAttempts,
    connectTimeoutMs: positive(o.connectTimeoutMs, 20_000, 'options.connectTimeoutMs'),
    random: o.random ?? Math.random,
  };
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!(Number.isFinite(value) && value > 0)) throw new TypeError(`${name} must be a positive number`);
  return value;
}
