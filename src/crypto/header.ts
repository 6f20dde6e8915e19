import { type GetCipher, type GetDecipher, NodeAlgorithmSuite } from '@aws-crypto/material-management-node';
import {
  ContentType,
  deserializeFactory,
  type MessageHeaderV2,
  serializeFactory,
} from '@aws-crypto/serialize';
import { IntegrityError } from '../errors.js';
import { IV_LENGTH, MAX_FRAME_LENGTH, SUITE_ID, TAG_LENGTH } from './layout.js';
import type { HeaderInfo } from './types.js';

/**
 * Header (de)serialization is the SDK's (`@aws-crypto/serialize`, pinned): it is where
 * byte compatibility matters most and its encoder sorts the context as the spec wants.
 * Custody adds the checks for what it supports and the header authentication.
 */

const toUtf8 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
const fromUtf8 = (s: string) => Buffer.from(s, 'utf8');
const { deserializeMessageHeader } = deserializeFactory(toUtf8, NodeAlgorithmSuite);
const { serializeMessageHeader, buildMessageHeader } = serializeFactory(fromUtf8, { utf8Sorting: true });

/** Longest header Custody will read (bounds memory when the bytes are not a message at all). */
export const MAX_HEADER_LENGTH = 1024 * 1024;

export interface ParsedHeader {
  info: HeaderInfo;
  header: MessageHeaderV2;
  /** The serialized header without its tag: the AAD of the header authentication. */
  rawHeader: Buffer;
  authTag: Buffer;
  /** rawHeader + tag: the offset of the first frame. */
  headerLength: number;
}

/**
 * Parses a header from the start of `bytes`; `undefined` when more bytes are needed.
 * Structure only: nothing here is authenticated yet.
 */
export function decodeHeader(bytes: Buffer): ParsedHeader | undefined {
  if (bytes.length === 0) return undefined;
  if (bytes[0] !== 2) throw new IntegrityError('not an ESDK v2 message (unsupported version byte)');
  let parsed: ReturnType<typeof deserializeMessageHeader>;
  try {
    parsed = deserializeMessageHeader(bytes, { maxEncryptedDataKeys: false });
  } catch (err) {
    throw new IntegrityError('malformed message header', { cause: err });
  }
  if (!parsed) {
    if (bytes.length >= MAX_HEADER_LENGTH) throw new IntegrityError('message header too long');
    return undefined;
  }
  const header = parsed.messageHeader;
  if (header.version !== 2) throw new IntegrityError('unsupported message format version');
  if (header.suiteId !== SUITE_ID) {
    throw new IntegrityError(`unsupported algorithm suite 0x${header.suiteId.toString(16).padStart(4, '0')}`);
  }
  if (header.contentType !== ContentType.FRAMED_DATA) throw new IntegrityError('message is not framed');
  if (header.frameLength < 1 || header.frameLength > MAX_FRAME_LENGTH) {
    throw new IntegrityError('unsupported frame length');
  }
  const rawHeader = Buffer.from(parsed.rawHeader);
  const authTag = Buffer.from(parsed.headerAuth.headerAuthTag);
  const headerLength = rawHeader.length + authTag.length;
  return {
    header,
    rawHeader,
    authTag,
    headerLength,
    info: {
      version: 2,
      suiteId: header.suiteId,
      messageId: Buffer.from(header.messageId),
      frameLength: header.frameLength,
      headerLength,
      context: { ...header.encryptionContext },
      encryptedDataKeys: header.encryptedDataKeys.map((edk) => ({
        providerId: edk.providerId,
        providerInfo: edk.providerInfo,
      })),
    },
  };
}

/**
 * Parse a header WITHOUT any key: for display and for checking a stored object looks
 * like a message. Validates structure only; nothing returned is authenticated.
 */
export function parseHeader(bytes: Buffer): { info: HeaderInfo; headerLength: number } {
  const parsed = decodeHeader(bytes);
  if (!parsed) throw new IntegrityError('truncated message header');
  return { info: parsed.info, headerLength: parsed.headerLength };
}

/** Header authentication: GCM over an empty plaintext, zero IV, the serialized header as AAD. */
export function verifyHeaderAuth(getDecipher: GetDecipher, parsed: ParsedHeader): void {
  try {
    const decipher = getDecipher(new Uint8Array(IV_LENGTH));
    decipher.setAAD(parsed.rawHeader);
    decipher.setAuthTag(parsed.authTag);
    decipher.update(Buffer.alloc(0));
    decipher.final();
  } catch (err) {
    throw new IntegrityError('message header failed authentication', { cause: err });
  }
}

/** Serializes and authenticates a v2 header; returns header ‖ tag ready to write. */
export function encodeHeader(params: Parameters<typeof buildMessageHeader>[0], getCipher: GetCipher): Buffer {
  const raw = Buffer.from(serializeMessageHeader(buildMessageHeader(params)));
  const cipher = getCipher(new Uint8Array(IV_LENGTH));
  cipher.setAAD(raw);
  cipher.update(Buffer.alloc(0));
  cipher.final();
  const tag = cipher.getAuthTag();
  if (tag.length !== TAG_LENGTH) throw new Error('unexpected header tag length');
  return Buffer.concat([raw, tag]);
}
