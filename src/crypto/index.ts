/**
 * The object codec: ESDK message format v2, framed, suite 0x0478 (committing, unsigned),
 * readable by the official AWS Encryption SDKs, with random access by frame arithmetic.
 */
export { DataKeyCache } from './cache.js';
export { inspectMessage, openMessage } from './decrypt.js';
export { createDecryptStream } from './decrypt-stream.js';
export { createEncryptStream } from './encrypt.js';
export { parseHeader } from './header.js';
export { ciphertextLength, DEFAULT_FRAME_LENGTH, MAX_FRAME_LENGTH, SUITE_ID } from './layout.js';
export { bufferSource, fileSource } from './source.js';
export type {
  ByteRange,
  CiphertextSource,
  EncryptionContext,
  EncryptOptions,
  EncryptStream,
  HeaderInfo,
  MessageInfo,
  OpenedMessage,
  OpenOptions,
} from './types.js';
