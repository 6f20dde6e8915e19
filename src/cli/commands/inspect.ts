import { open } from 'node:fs/promises';
import type { Command } from 'commander';
import { fileSource, inspectMessage, parseHeader } from '../../crypto/index.js';
import { addKeyOptions, type KeyOptions, keyringFrom } from '../key-options.js';

const printable = (info: Record<string, unknown>) =>
  JSON.stringify(info, (_k, v) => (Buffer.isBuffer(v) ? v.toString('base64') : v), 2);

/**
 * Prints the header as JSON (suite, frame length, encryption context, wrapping keys).
 * With a key it also checks every frame and the commitment, writing no plaintext.
 */
export function inspectCommand(program: Command): void {
  addKeyOptions(
    program
      .command('inspect <file>')
      .description('print an object’s header; with a key, authenticate every frame'),
  ).action(async (file: string, opts: KeyOptions) => {
    const keyring = await keyringFrom(opts);
    if (keyring) {
      const info = await inspectMessage(await fileSource(file), { keyring });
      process.stdout.write(`${printable({ ...info, authenticated: true })}\n`);
      return;
    }
    const handle = await open(file, 'r');
    try {
      const buf = Buffer.alloc(64 * 1024);
      const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
      const { info } = parseHeader(buf.subarray(0, bytesRead));
      process.stdout.write(`${printable({ ...info, authenticated: false })}\n`);
    } finally {
      await handle.close();
    }
  });
}
