import { readFile } from 'node:fs/promises';
import type { KeyringNode } from '@aws-crypto/material-management-node';
import type { Command } from 'commander';
import { LocalKeyProvider, MASTER_KEY_BYTES } from '../keys/local/index.js';

export interface KeyOptions {
  localKeyFile?: string;
  tenant?: string;
}

/** Key options shared by `decrypt` and `inspect`; AWS KMS and Azure join here. */
export function addKeyOptions(cmd: Command): Command {
  return cmd
    .option('--local-key-file <path>', 'the local provider master key (32 raw bytes)')
    .option('--tenant <id>', 'tenant id (with --local-key-file)');
}

export async function keyringFrom(opts: KeyOptions): Promise<KeyringNode | undefined> {
  if (!opts.localKeyFile) return undefined;
  if (!opts.tenant) throw new Error('--local-key-file needs --tenant <id>');
  const master = await readFile(opts.localKeyFile);
  if (master.length !== MASTER_KEY_BYTES) throw new Error(`${opts.localKeyFile} must hold exactly 32 bytes`);
  return new LocalKeyProvider(master, opts.tenant).keyring();
}
