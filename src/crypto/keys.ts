import { createHash } from 'node:crypto';
import {
  CommitmentPolicy,
  type EncryptedDataKey,
  type GetCipher,
  type GetDecipher,
  getDecryptionHelper,
  getEncryptHelper,
  type KeyringNode,
  NodeAlgorithmSuite,
  NodeDefaultCryptographicMaterialsManager,
} from '@aws-crypto/material-management-node';
import { ENCODED_SIGNER_KEY } from '@aws-crypto/serialize';
import { IntegrityError, KeyProviderError } from '../errors.js';
import { type ParsedHeader, verifyHeaderAuth } from './header.js';
import { SUITE_ID } from './layout.js';
import type { EncryptionContext, OpenOptions } from './types.js';

/**
 * Data keys through the SDK: the default CMM asks the keyring (one onEncrypt / onDecrypt),
 * the SDK's helpers run HKDF-SHA512 and the key commitment. Only cipher factories leave
 * this module; the data key itself never does.
 */

const suite = new NodeAlgorithmSuite(SUITE_ID);

function checkContext(context: EncryptionContext): void {
  for (const [k, v] of Object.entries(context)) {
    if (typeof v !== 'string') throw new TypeError(`encryption context value for ${k} must be a string`);
  }
  // The default CMM reserves this key for signing suites; reject it up front rather than
  // reporting a programming error as a key-provider failure.
  if (Object.hasOwn(context, ENCODED_SIGNER_KEY)) {
    throw new TypeError(`encryption context key ${ENCODED_SIGNER_KEY} is reserved`);
  }
}

export interface MessageKey {
  getCipher: GetCipher;
  /** The context as the CMM returned it: what goes into the header. */
  encryptionContext: EncryptionContext;
  keyCommitment: Uint8Array;
  encryptedDataKeys: readonly EncryptedDataKey[];
  dispose(): void;
}

/** Generates and wraps a fresh data key (exactly one keyring onEncrypt) and derives the message key. */
export async function newMessageKey(
  keyring: KeyringNode,
  context: EncryptionContext,
  messageId: Buffer,
): Promise<MessageKey> {
  checkContext(context);
  const cmm = new NodeDefaultCryptographicMaterialsManager(keyring);
  let material: Awaited<ReturnType<typeof cmm.getEncryptionMaterials>>;
  try {
    material = await cmm.getEncryptionMaterials({
      suite,
      encryptionContext: context,
      commitmentPolicy: CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
    });
  } catch (err) {
    if (err instanceof KeyProviderError) throw err;
    throw new KeyProviderError('tenant', 'KEY_WRAP_FAILED', 'the keyring could not generate a data key', {
      cause: err,
    });
  }
  const helper = getEncryptHelper(material);
  const { getCipher, keyCommitment } = helper.getCipherInfo(messageId);
  if (!keyCommitment) throw new Error('suite did not produce a key commitment');
  let disposed = false;
  return {
    getCipher,
    keyCommitment,
    encryptionContext: { ...material.encryptionContext },
    encryptedDataKeys: material.encryptedDataKeys,
    // Zeroes the data key once the message is written (or abandoned).
    dispose() {
      if (!disposed) helper.dispose();
      disposed = true;
    },
  };
}

/**
 * The decryption materials of a header: the keyring unwraps one of its data keys. A
 * keyring's own `KeyProviderError` passes through; anything else is "no keyring could".
 */
export async function decryptMaterialsFor(parsed: ParsedHeader, keyring: KeyringNode) {
  const { header } = parsed;
  const cmm = new NodeDefaultCryptographicMaterialsManager(keyring);
  try {
    return await cmm.decryptMaterials({
      suite,
      encryptionContext: header.encryptionContext,
      encryptedDataKeys: header.encryptedDataKeys,
    });
  } catch (err) {
    if (err instanceof KeyProviderError) throw err;
    throw new KeyProviderError('tenant', 'KEY_UNWRAP_FAILED', 'no keyring could unwrap the data key', {
      cause: err,
    });
  }
}

/** Unwraps, derives, checks the commitment and the header tag: returns the frame decipher factory. */
async function unlock(parsed: ParsedHeader, keyring: KeyringNode): Promise<GetDecipher> {
  const { header } = parsed;
  const material = await decryptMaterialsFor(parsed, keyring);
  let getDecipher: GetDecipher;
  try {
    getDecipher = getDecryptionHelper(material).getDecipherInfo(header.messageId, header.suiteData);
  } catch (err) {
    throw new IntegrityError('key commitment does not match', { cause: err });
  }
  verifyHeaderAuth(getDecipher, parsed);
  return getDecipher;
}

const scopes = new WeakMap<KeyringNode, string>();
let nextScope = 0;

function cacheId(parsed: ParsedHeader, opts: OpenOptions): string {
  let scope = opts.cacheScope === undefined ? undefined : `s:${opts.cacheScope}`;
  if (scope === undefined) {
    scope = scopes.get(opts.keyring);
    if (scope === undefined) {
      scope = `k:${nextScope++}`;
      scopes.set(opts.keyring, scope);
    }
  }
  return createHash('sha256')
    .update(scope)
    .update('\0')
    .update(parsed.rawHeader)
    .update(parsed.authTag)
    .digest('base64url');
}

/** Checks the expected context, then unlocks (through the cache when given). */
export async function unlockMessage(parsed: ParsedHeader, opts: OpenOptions): Promise<GetDecipher> {
  // Checked before any key-provider call: a mismatch is rejected without touching KMS.
  // Not yet authenticated here, but a header that passes still has to authenticate below.
  const context = parsed.header.encryptionContext;
  for (const [k, v] of Object.entries(opts.expectedContext ?? {})) {
    if (!Object.hasOwn(context, k) || context[k] !== v) {
      throw new IntegrityError('encryption context mismatch');
    }
  }
  if (!opts.cache) return unlock(parsed, opts.keyring);
  return opts.cache.getOrLoad(cacheId(parsed, opts), () => unlock(parsed, opts.keyring));
}
