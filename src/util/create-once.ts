import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';

/** fsyncs a directory so a rename or link inside it survives a power cut. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Creates `file` holding `contents` unless it exists; true when this call created it.
 *
 * Race-free across processes: the content is written and fsynced to a private temp file
 * (O_EXCL, mode 0600: these files hold keys), then `link()`ed into place. `link` fails
 * atomically with EEXIST when another process won, so nobody ever reads a half-written
 * file and every process ends with the same value.
 */
export async function createOnce(file: string, contents: Buffer): Promise<boolean> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temp, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
  try {
    try {
      await handle.writeFile(contents);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await link(temp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
    await syncDir(path.dirname(file));
    return true;
  } finally {
    // The temp name is a second link to the same inode (or the losing value): drop it.
    await unlink(temp).catch(() => {});
  }
}

/** Returns the contents of `file`, creating it with `generate()` first if it does not exist. */
export async function readOrCreate(
  file: string,
  generate: () => Buffer,
): Promise<{ contents: Buffer; created: boolean }> {
  try {
    return { contents: await readFile(file), created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const created = await createOnce(file, generate());
  return { contents: await readFile(file), created };
}
