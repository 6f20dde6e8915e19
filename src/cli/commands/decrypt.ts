import { createWriteStream } from 'node:fs';
import { type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { createDecryptStream, fileSource, openMessage } from '../../crypto/index.js';
import { addKeyOptions, type KeyOptions, requireKeyring } from '../key-options.js';
import { progress } from '../progress.js';

function parseRange(text: string): { start: number; end: number } {
  const m = /^(\d+)-(\d+)$/.exec(text);
  if (!m || Number(m[2]) < Number(m[1]))
    throw new Error('--range must be <first>-<last>, inclusive byte offsets');
  return { start: Number(m[1]), end: Number(m[2]) };
}

/**
 * Tenant-side decryption with no database, Redis or token. Plaintext is released one
 * authenticated frame at a time; the exit code is non-zero if anything failed, so a
 * script can trust a zero exit to mean every byte written was authenticated.
 */
export function decryptCommand(program: Command): void {
  addKeyOptions(
    program
      .command('decrypt <file>')
      .description('decrypt an object (a file, or - for stdin) to stdout or -o')
      .option('-o, --out <path>', 'write plaintext here instead of stdout')
      .option('--range <a-b>', 'only plaintext bytes a..b (inclusive; needs a file)'),
  ).action(async (file: string, opts: KeyOptions & { out?: string; range?: string }) => {
    const range = opts.range ? parseRange(opts.range) : undefined;
    const keyring = await requireKeyring(opts);
    let plaintext: Readable;
    let total: number | undefined;
    if (file === '-') {
      if (range) throw new Error('--range needs a file, not stdin');
      plaintext = process.stdin.pipe(createDecryptStream({ keyring }));
    } else {
      // Unwrap the data key first: if the key provider refuses, no output file is created.
      const opened = await openMessage(await fileSource(file), { keyring });
      total = range ? range.end - range.start + 1 : opened.info.plaintextLength;
      plaintext = opened.stream(range);
    }
    const out: Writable = opts.out ? createWriteStream(opts.out, { mode: 0o600 }) : stdoutWritable();
    await pipeline(plaintext, progress('decrypting', total), out);
  });
}

/** stdout without closing it (so later error output still works). */
function stdoutWritable(): Writable {
  return new Writable({
    write(chunk, _enc, done) {
      process.stdout.write(chunk, done);
    },
  });
}
