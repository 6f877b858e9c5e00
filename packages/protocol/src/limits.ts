/**
 * Bounds on every number, string and array the protocol accepts. They are
 * sanity limits against hostile or corrupt peers, not tuning knobs: the
 * coordinator sets the transport's maxPayload from the actual model size.
 */

/** Names: worker names, run ids, dataset and kernel names. */
export const MAX_NAME = 64;
/** Free text: reasons and error messages. */
export const MAX_TEXT = 1024;
export const MAX_URL = 2048;
/** Parameters in one model (2^26 floats = 256 MiB). */
export const MAX_PARAMS = 2 ** 26;
/** Floats in one gradient message: several tree nodes of a large model. */
export const MAX_GRAD = 2 ** 27;
/** Reduction-tree nodes in one gradient (a canonical cover needs ~2·log2(n)). */
export const MAX_NODES = 1024;
/** Samples in one global batch, and so in one task. */
export const MAX_BATCH = 2 ** 24;
/** Counters that only grow (steps, task ids, parameter versions). */
export const MAX_COUNTER = Number.MAX_SAFE_INTEGER;
/** Durations: about a day. */
export const MAX_MS = 864e5;
/** Throughput estimates, samples per second. */
export const MAX_SPEED = 1e9;
export const MAX_THREADS = 1024;
/** Nesting of MessagePack containers; our deepest message (welcome.spec) uses 4. */
export const MAX_DEPTH = 32;
