/**
 * The wire protocol's version, sent in `hello`. Bump it on any change a peer of
 * the previous version would misread; the coordinator refuses other versions
 * with PROTOCOL_MISMATCH instead of guessing.
 */
export const PROTOCOL_VERSION = 1;
