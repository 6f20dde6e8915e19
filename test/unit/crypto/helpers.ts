import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  type KeyringNode,
  KeyringNode as KeyringBase,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
} from '@aws-crypto/client-node';
import { createEncryptStream, type EncryptionContext } from '../../../src/crypto/index.js';

export function rawKeyring(key: Buffer = randomBytes(32)): RawAesKeyringNode {
  return new RawAesKeyringNode({
    keyNamespace: 'custody-local',
    keyName: 'tenant/t1',
    unencryptedMasterKey: new Uint8Array(key),
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
  });
}

/** Delegates to another keyring and counts the calls that reach it. */
export class CountingKeyring extends KeyringBase {
  encrypts = 0;
  decrypts = 0;
  constructor(private readonly inner: KeyringNode) {
    super();
  }
  override async _onEncrypt(material: Parameters<KeyringNode['_onEncrypt']>[0]) {
    this.encrypts++;
    return this.inner.onEncrypt(material);
  }
  override async _onDecrypt(
    material: Parameters<KeyringNode['_onDecrypt']>[0],
    edks: Parameters<KeyringNode['_onDecrypt']>[1],
  ) {
    this.decrypts++;
    return this.inner.onDecrypt(material, edks);
  }
}

export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Collects what a stream emitted before it errored, and the error. */
export async function collectUntilError(stream: Readable): Promise<{ data: Buffer; error: unknown }> {
  const chunks: Buffer[] = [];
  try {
    for await (const c of stream) chunks.push(c as Buffer);
  } catch (error) {
    return { data: Buffer.concat(chunks), error };
  }
  return { data: Buffer.concat(chunks), error: undefined };
}

/** Writes `plaintext` in uneven chunks so frames straddle writes. */
export async function encryptBuffer(
  keyring: KeyringNode,
  plaintext: Buffer,
  opts: { frameLength?: number; context?: EncryptionContext; chunk?: number } = {},
): Promise<Buffer> {
  const enc = await createEncryptStream({
    keyring,
    context: opts.context ?? { tenant: 't1', recording: 'r1' },
    frameLength: opts.frameLength,
  });
  const step = opts.chunk ?? 3001;
  function* pieces() {
    for (let pos = 0; pos < plaintext.length; pos += step) yield plaintext.subarray(pos, pos + step);
  }
  return collect(Readable.from(pieces(), { objectMode: false }).pipe(enc));
}
