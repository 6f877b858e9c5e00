export { WorkerClient } from './worker-client.js';
export { WorkerClientError, type ClientFailureCode } from './client-error.js';
export { TaskScheduler, type SchedulerAction } from './scheduler.js';
export { WorkerCompression } from './compression.js';
export { backoffDelay } from './backoff.js';
export type {
  ClientState,
  ClientStatus,
  ReconnectOptions,
  RunResult,
  TaskEngine,
  TaskResult,
  WebSocketConstructor,
  WebSocketLike,
  WorkerClientOptions,
} from './types.js';
// The protocol types an engine implementer needs, so one import suffices.
export type { RunInfo, TaskMessage } from '@gradmesh/protocol';
