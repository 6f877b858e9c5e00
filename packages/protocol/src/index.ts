export { PROTOCOL_VERSION } from './version.js';
export * from './limits.js';
export { ERRORS, ERROR_CODES, ProtocolError, errorCodeForClose, errorText, type ErrorCode, type ErrorSpec } from './errors.js';
export { bytesOf, viewAs, isFiniteArray, type NumericArray, type NumericArrayType } from './typed-arrays.js';
export * from './model-spec.js';
export * from './messages.js';
export * from './quantize.js';
export { scanFrame } from './frame-scan.js';
export { encode, decode, decodeClientMessage, decodeServerMessage, unpackFrame, type DecodeResult } from './codec.js';
