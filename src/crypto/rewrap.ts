import { Readable } from 'node:stream';
import {
  getDecryptionHelper,
  getEncryptHelper,
  type KeyringNode,
  KeyringTraceFlag,
  NodeAlgorithmSuite,
  NodeEncryptionMaterial,
  unwrapDataKey,
} from '@aws-crypto/material-management-node';
import { IntegrityError, KeyProviderError } from '../errors.js';
import { readHeader } from './decrypt.js';
import { decodeHeader, encodeHeader, type ParsedHeader, verifyHeaderAuth } from './header.js';
import { decryptMaterialsFor } from './keys.js';
import { layoutFromSize, SUITE_ID } from './layout.js';
import type { CiphertextSource, EncryptionContext, HeaderInfo } from './types.js';

/**
 * Rewrap: the same message under another wrapping key, without touching the audio.
 *
 * In ESDK v2 the frames' AAD is message id ‖ sequence ‖ length (see `frame.ts`): the
 * encrypted data keys are not part of it, and the frame key is derived from the data key
 * and the message id alone. So unwrapping the data key with the old keyring, wrapping
 * the SAME data key with the new one (the keyring sees materials that already carry a
 * plaintext key and only wraps: KMS `Encrypt`, Key Vault `wrapKey`, raw AES) and writing
 * a new header (same message id, suite, context, frame length and commitment; new EDK
 * list; a new header tag under the same derived key) yields a message the new key opens
 * and the old key no longer does, with every frame byte-identical.
 *
 * Companions: other messages under the SAME data key and context (a recording's metadata
 * sidecar shares its audio's data key, see `shared-materials.ts`) get their new headers
 * from the same unwrap and the same wrap: still one key call each way per recording.
 */

const suite = new NodeAlgorithmSuite(SUITE_ID);

export interface RewrapOptions {
  /** Unwraps the current data key: the keyring of the storage version the object was written under. */
  from: KeyringNode;
  /** Wraps the same data key (exactly one wrap operation): the target version's keyring. */
  to: KeyringNode;
  /** Every pair must be in the header's context (checked before any key call). */
  expectedContext?: EncryptionContext;
  /**
   * Headers of other messages under the same data key and context: each must authenticate
   * under the unwrapped key (else IntegrityError), and is rewritten with the same new EDKs.
   */
  companions?: ParsedHeader[];
}

export interface RewrappedMessage {
  /** The new header, as a reader will see it. */
  info: HeaderInfo;
  /** The new header ‖ its authentication tag. */
  header: Buffer;
  /** The companions' new headers (header ‖ tag), in the order given. */
  companionHeaders: Buffer[];
  /** Where the frames start in the source (its header length). */
  bodyOffset: number;
  /** Size of the rewrapped message: new header + the unchanged frames. */
  size: number;
  /** The new header followed by the source's frames, streamed (bounded memory). */
  stream(): Readable;
}

function checkContext(parsed: ParsedHeader, expected: EncryptionContext | undefined): void {
  const context = parsed.header.encryptionContext;
  for (const [k, v] of Object.entries(expected ?? {})) {
    if (!Object.hasOwn(context, k) || context[k] !== v)
      throw new IntegrityError('encryption context mismatch');
  }
}

/**
 * The plaintext data key of an authenticated header: unwrapped, its commitment checked
 * and the header tag verified, so a tampered header is never rewrapped into a valid one.
 * The caller must zero the returned bytes.
 */
async function unwrapAuthenticated(
  parsed: ParsedHeader,
  keyring: KeyringNode,
  companions: readonly ParsedHeader[] = [],
): Promise<Uint8Array> {
  const { header } = parsed;
  const material = await decryptMaterialsFor(parsed, keyring);
  // A copy: the helper's dispose below zeroes the material's own key.
  const dataKey = Uint8Array.from(unwrapDataKey(material.getUnencryptedDataKey()));
  const helper = getDecryptionHelper(material);
  try {
    let getDecipher: ReturnType<typeof helper.getDecipherInfo>;
    try {
      getDecipher = helper.getDecipherInfo(header.messageId, header.suiteData);
    } catch (err) {
      throw new IntegrityError('key commitment does not match', { cause: err });
    }
    verifyHeaderAuth(getDecipher, parsed);
    // A companion must be a message under this very data key: its commitment (derived
    // from the key and its own message id) and its header tag prove it.
    for (const other of companions) {
      let decipher: ReturnType<typeof helper.getDecipherInfo>;
      try {
        decipher = helper.getDecipherInfo(other.header.messageId, other.header.suiteData);
      } catch (err) {
        throw new IntegrityError('a companion message does not share the data key', { cause: err });
      }
      verifyHeaderAuth(decipher, other);
    }
    return dataKey;
  } catch (err) {
    dataKey.fill(0);
    throw err;
  } finally {
    helper.dispose();
  }
}

/** Wraps `dataKey` once with `keyring` and writes each header that goes with it (same id, context, commitment). */
async function wrapAndEncode(
  parsed: readonly ParsedHeader[],
  dataKey: Uint8Array,
  keyring: KeyringNode,
): Promise<Buffer[]> {
  const { encryptionContext } = parsed[0]!.header;
  const material = new NodeEncryptionMaterial(suite, { ...encryptionContext }).setUnencryptedDataKey(
    // A copy: the helper's dispose zeroes the material's key, the caller zeroes its own.
    Uint8Array.from(dataKey),
    { keyNamespace: 'custody', keyName: 'rewrap', flags: KeyringTraceFlag.WRAPPING_KEY_GENERATED_DATA_KEY },
  );
  try {
    await keyring.onEncrypt(material);
  } catch (err) {
    material.zeroUnencryptedDataKey();
    if (err instanceof KeyProviderError) throw err;
    throw new KeyProviderError(
      'tenant',
      'KEY_WRAP_FAILED',
      'the target keyring could not wrap the data key',
      {
        cause: err,
      },
    );
  }
  const helper = getEncryptHelper(material);
  try {
    if (material.encryptedDataKeys.length === 0)
      throw new Error('the target keyring added no encrypted data key');
    return parsed.map(({ header }) => {
      const { getCipher, keyCommitment } = helper.getCipherInfo(header.messageId);
      // Same data key and message id give the same commitment; anything else is a bug.
      if (!keyCommitment || !Buffer.from(keyCommitment).equals(Buffer.from(header.suiteData))) {
        throw new IntegrityError('rewrapped key commitment differs from the original');
      }
      return encodeHeader(
        {
          encryptionContext: header.encryptionContext,
          encryptedDataKeys: material.encryptedDataKeys,
          suite,
          messageId: header.messageId,
          frameLength: header.frameLength,
          suiteData: keyCommitment,
        },
        getCipher,
      );
    });
  } finally {
    helper.dispose();
  }
}

/** A new authenticated header for `parsed` whose data key is wrapped by `opts.to` only. */
export async function rewrapHeader(parsed: ParsedHeader, opts: RewrapOptions): Promise<Buffer> {
  return (await rewrapHeaders(parsed, opts))[0]!;
}

/** New headers for `parsed` and then each of `opts.companions`, from one unwrap and one wrap. */
export async function rewrapHeaders(parsed: ParsedHeader, opts: RewrapOptions): Promise<Buffer[]> {
  const companions = opts.companions ?? [];
  checkContext(parsed, opts.expectedContext);
  // Reusing the EDKs is only sound under the context they were wrapped for.
  for (const other of companions) checkContext(other, parsed.header.encryptionContext);
  for (const other of companions) checkContext(parsed, other.header.encryptionContext);
  const dataKey = await unwrapAuthenticated(parsed, opts.from, companions);
  try {
    return await wrapAndEncode([parsed, ...companions], dataKey, opts.to);
  } finally {
    dataKey.fill(0);
  }
}

/**
 * Reads the source's header, rewraps it, and returns the new header with a stream of the
 * whole rewrapped message (the frames are read from the source as the stream is consumed).
 */
export async function rewrapMessage(
  source: CiphertextSource,
  opts: RewrapOptions,
): Promise<RewrappedMessage> {
  const parsed = await readHeader(source);
  // A size with no frame layout is a truncated object: refuse before any key call.
  layoutFromSize(source.size, parsed.headerLength, parsed.header.frameLength);
  const [header, ...companionHeaders] = await rewrapHeaders(parsed, opts);
  if (!header) throw new Error('no rewrapped header');
  const reparsed = decodeHeader(header);
  if (!reparsed) throw new Error('rewrapped header does not parse');
  const bodyOffset = parsed.headerLength;
  const size = header.length + (source.size - bodyOffset);
  return {
    info: reparsed.info,
    header,
    companionHeaders,
    bodyOffset,
    size,
    stream: () =>
      Readable.from(
        (async function* () {
          yield header;
          yield* await source.read({ start: bodyOffset, end: source.size - 1 });
        })(),
        { objectMode: false },
      ),
  };
}
