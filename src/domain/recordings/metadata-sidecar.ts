import { Readable } from 'node:stream';
import { createEncryptStream } from '../../crypto/index.js';
import type { CapturedMaterials } from '../../crypto/shared-materials.js';
import { StorageError } from '../../errors.js';
import { metadataKeyFor } from '../../storage/object-key.js';
import type { StorageTarget } from '../../storage/storage-target.js';
import type { RecordingMetadata } from './metadata-document.js';
import { objectContext } from './open-stored.js';

/**
 * The metadata sidecar: one JSON document beside each recording's audio object (see
 * `metadata-document.ts`). `encrypted` (the default: it holds personal data) is an ESDK
 * message under the audio's own data key and EDKs (`shared-materials.ts`): no second
 * key-provider call, and the same encryption context as the audio, since the EDKs are
 * bound to it. `plaintext` is readable JSON for tenants who want it so; `off` writes none.
 */
export type SidecarMode = 'encrypted' | 'plaintext' | 'off';
export const SIDECAR_MODES = ['encrypted', 'plaintext', 'off'] as const;

export interface SidecarObject {
  encrypted: boolean;
  bytes: Buffer;
}

/** Serializes (and, with materials, encrypts under the audio's data key) a document. */
export async function encodeSidecar(
  doc: RecordingMetadata,
  materials: CapturedMaterials | undefined,
): Promise<SidecarObject> {
  const json = Buffer.from(JSON.stringify(doc), 'utf8');
  if (!materials) return { encrypted: false, bytes: json };
  const enc = await createEncryptStream({
    keyring: materials.replayKeyring(),
    context: objectContext(doc.tenantId, doc.recordingId),
  });
  const bytes = Buffer.concat(await Readable.from([json]).pipe(enc).toArray());
  json.fill(0);
  return { encrypted: true, bytes };
}

/**
 * Puts the sidecar beside `audioKey` and verifies it as the audio is verified: size, and
 * the store's checksum where it keeps one, else a read-back of the (small) object.
 */
export async function putSidecar(
  target: StorageTarget,
  audioKey: string,
  recordingId: string,
  sidecar: SidecarObject,
  signal?: AbortSignal,
  /**
   * WORM retention and legal hold, as the audio's: the sidecar holds personal data too, so a
   * WORM target keeps it as long as the audio.
   */
  worm: { retainUntil?: Date; legalHold?: boolean } = {},
): Promise<string> {
  const key = metadataKeyFor(audioKey, sidecar.encrypted);
  const info = await target.put(key, Readable.from([sidecar.bytes]), {
    ...(worm.retainUntil ? { retainUntil: worm.retainUntil } : {}),
    ...(worm.legalHold ? { legalHold: true } : {}),
    contentLength: sidecar.bytes.length,
    contentType: sidecar.encrypted ? 'application/vnd.custody.esdk' : 'application/json',
    metadata: sidecar.encrypted
      ? { 'custody-recording': recordingId, 'custody-format': 'esdk-v2-0478', 'custody-content': 'metadata' }
      : { 'custody-recording': recordingId, 'custody-content': 'metadata' },
    signal,
  });
  const head = await target.head(key, { signal });
  if (!head || head.size !== sidecar.bytes.length) {
    throw new StorageError('transient', 'VerifyFailed', `stored sidecar size ${head?.size ?? 'none'}`);
  }
  if (info.checksum && head.checksum) {
    if (head.checksum !== info.checksum)
      throw new StorageError(
        'transient',
        'VerifyFailed',
        'the stored sidecar checksum is not the one written',
      );
    return key;
  }
  const back = Buffer.concat(await (await target.get(key, { signal })).toArray());
  if (!back.equals(sidecar.bytes))
    throw new StorageError('transient', 'VerifyFailed', 'the stored sidecar is not the one written');
  return key;
}

/** The sidecar stored beside `audioKey` (encrypted preferred), or undefined: older recordings have none. */
export async function readSidecar(
  target: StorageTarget,
  audioKey: string,
): Promise<SidecarObject | undefined> {
  for (const encrypted of [true, false]) {
    try {
      const bytes = Buffer.concat(await (await target.get(metadataKeyFor(audioKey, encrypted))).toArray());
      return { encrypted, bytes };
    } catch (err) {
      if (err instanceof StorageError && err.kind === 'not-found') continue;
      throw err;
    }
  }
  return undefined;
}

/**
 * Sets or releases the WORM legal hold of a stored recording: its audio object first, then
 * whichever sidecar is beside it. Nothing on targets without WORM.
 */
export async function setStoredLegalHold(
  target: StorageTarget,
  audioKey: string,
  on: boolean,
): Promise<void> {
  if (!target.setLegalHold) return;
  await target.setLegalHold(audioKey, on);
  for (const encrypted of [true, false]) {
    const key = metadataKeyFor(audioKey, encrypted);
    if (await target.head(key)) await target.setLegalHold(key, on);
  }
}

/** Removes both possible sidecars of `audioKey` (a missing one is fine). */
export async function removeSidecars(target: StorageTarget, audioKey: string): Promise<void> {
  for (const encrypted of [true, false]) await target.delete(metadataKeyFor(audioKey, encrypted));
}
