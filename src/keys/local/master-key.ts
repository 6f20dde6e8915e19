import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { createOnce } from '../../util/create-once.js';

/** The `local` provider's master key is exactly this many raw bytes (AES-256 / HKDF input). */
export const MASTER_KEY_BYTES = 32;

/** The part of a pino logger this module needs; kept minimal so tests can pass a stub. */
export interface WarnLogger {
  warn(obj: object, msg: string): void;
}

/**
 * Returns the `local` provider's master key from `file`, generating it on first start.
 *
 * Every process of a deployment (API, workers, several replicas starting together) must
 * end with the same key, or recordings become unreadable: `createOnce` makes the file
 * race-free and durable (see there).
 */
export async function loadOrCreateMasterKey(file: string, log: WarnLogger): Promise<Buffer> {
  const existing = await readKeyFile(file, log);
  if (existing) return existing;

  let created: boolean;
  try {
    created = await createOnce(file, randomBytes(MASTER_KEY_BYTES));
  } catch (err) {
    throw new Error(`cannot create local master key ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (created) {
    log.warn(
      { file, event: 'local-master-key-generated' },
      `GENERATED A NEW LOCAL MASTER KEY at ${file}. Back it up now and keep it secret: ` +
        'every recording stored with the local provider is encrypted under keys derived from it, ' +
        'and losing this file loses all of them.',
    );
  }
  const key = await readKeyFile(file, log);
  if (!key) throw new Error(`local master key ${file} disappeared while it was being created`);
  return key;
}

/** `undefined` when the file does not exist; throws when it exists but is not a usable key. */
async function readKeyFile(file: string, log: WarnLogger): Promise<Buffer | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(file, constants.O_RDONLY);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read local master key ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new Error(`local master key ${file} is not a regular file`);
    // Read one byte more than expected so a too-long file is detected, not truncated.
    const buf = Buffer.alloc(MASTER_KEY_BYTES + 1);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    if (bytesRead !== MASTER_KEY_BYTES) {
      throw new Error(
        `local master key ${file} must hold exactly ${MASTER_KEY_BYTES} raw bytes ` +
          `(found ${stat.size}); restore it from backup or point CUSTODY_LOCAL_KEY_FILE elsewhere`,
      );
    }
    if ((stat.mode & 0o077) !== 0) {
      log.warn(
        { file, mode: (stat.mode & 0o777).toString(8) },
        'local master key file is accessible to group or others; chmod 600 it',
      );
    }
    return buf.subarray(0, MASTER_KEY_BYTES);
  } finally {
    await handle.close();
  }
}
