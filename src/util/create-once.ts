import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';

/**
 * Returns the contents of `file`, creating it with `generate()` if it does not exist.
 *
 * Race-free across processes: the content is written and fsynced to a private temp
 * file, then `link()`ed into place; `link` fails atomically with EEXIST when another
 * process won, so nobody ever reads a half-written file and all end with one value.
 * Mode 0600: these files hold keys.
 */
export async function readOrCreate(
  file: string,
  generate: () => Buffer,
): Promise<{ contents: Buffer; created: boolean }> {
  try {
    return { contents: await readFile(file), created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temp, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
  let created = false;
  try {
    await handle.writeFile(generate());
    await handle.sync();
    await handle.close();
    try {
      await link(temp, file);
      created = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  } finally {
    await handle.close().catch(() => {});
    await unlink(temp).catch(() => {});
  }
  return { contents: await readFile(file), created };
}
