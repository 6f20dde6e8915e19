import { readFile } from 'node:fs/promises';
import type { KeyringNode } from '@aws-crypto/material-management-node';
import type { Command } from 'commander';
import { LocalKeyProvider, MASTER_KEY_BYTES } from '../keys/local/index.js';
import { cliAzureKeyring } from './azure-keyring.js';
import { cliKmsKeyring } from './kms-keyring.js';

export interface KeyOptions {
  localKeyFile?: string;
  tenant?: string;
  kms?: boolean;
  kmsKeyArn?: string[];
  azureKeyId?: string;
}

// Existing scripts and tests match the start of this text: new sources go at the end.
const KEY_SOURCES = '--local-key-file <path> --tenant <id>, or --kms, or --azure-key-id <url>';

/** Key options shared by `decrypt` and `inspect`. */
export function addKeyOptions(cmd: Command): Command {
  return cmd
    .option('--local-key-file <path>', 'the local provider master key (32 raw bytes)')
    .option('--tenant <id>', 'tenant id (with --local-key-file)')
    .option(
      '--kms',
      'AWS KMS with your own AWS identity (default credential chain; AWS_ENDPOINT_URL_KMS is honoured)',
    )
    .option(
      '--kms-key-arn <arn>',
      'with --kms: only try this key ARN (repeatable); default: any KMS key the object names',
      (arn: string, previous: string[]) => [...previous, arn],
      [] as string[],
    )
    .option(
      '--azure-key-id <url>',
      'Azure Key Vault key (any version of it unwraps) with your own Azure identity (DefaultAzureCredential: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH, ...)',
    );
}

/** The keyring of the one key source given, or undefined if none was (usage errors throw). */
export async function keyringFrom(opts: KeyOptions): Promise<KeyringNode | undefined> {
  const arns = opts.kmsKeyArn ?? [];
  const sources = [opts.localKeyFile, opts.kms, opts.azureKeyId].filter(Boolean).length;
  if (sources > 1) throw new Error(`give exactly one key source: ${KEY_SOURCES}`);
  if (arns.length && !opts.kms) throw new Error('--kms-key-arn needs --kms');
  if (opts.tenant && !opts.localKeyFile) throw new Error('--tenant goes with --local-key-file <path>');
  if (opts.kms) return cliKmsKeyring(arns);
  if (opts.azureKeyId) return cliAzureKeyring(opts.azureKeyId);
  if (!opts.localKeyFile) return undefined;
  if (!opts.tenant) throw new Error('--local-key-file needs --tenant <id>');
  const master = await readFile(opts.localKeyFile);
  if (master.length !== MASTER_KEY_BYTES) throw new Error(`${opts.localKeyFile} must hold exactly 32 bytes`);
  return new LocalKeyProvider(master, opts.tenant).keyring();
}

/** As `keyringFrom`, for commands that cannot work without a key. */
export async function requireKeyring(opts: KeyOptions): Promise<KeyringNode> {
  const keyring = await keyringFrom(opts);
  if (!keyring) throw new Error(`give a key: ${KEY_SOURCES}`);
  return keyring;
}
