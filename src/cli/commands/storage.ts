import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { text } from 'node:stream/consumers';
import type { Command } from 'commander';
import { ApiError, api, CliError, tenantPath } from '../api-client.js';
import { emit, type JsonOption, note, printFields, printJson, printTable, withJson } from '../output.js';

interface Step {
  name: string;
  ok: boolean;
  ms: number;
  error?: { code: string; message: string };
}
interface Handshake {
  ok: boolean;
  steps: Step[];
}
interface StorageVersion {
  version: number;
  provider: string;
  config: Record<string, unknown>;
  keyId: string;
  createdAt: string;
  handshake: Handshake;
}
interface AwsSetup {
  externalId: string;
  connectorPrincipal: string | null;
  trustPolicy: unknown;
  permissionsPolicy: unknown;
  keyPolicyStatement: unknown;
  missing: string[];
  steps: string[];
}

/** One line per handshake step, the failing one with the code the tenant must fix. */
function printSteps(h: Handshake, write: (line: string) => void): void {
  for (const s of h.steps) {
    const why = s.error ? `  ${s.error.code}: ${s.error.message}` : '';
    write(`  ${s.ok ? 'ok  ' : 'FAIL'} ${s.name} (${Math.round(s.ms)} ms)${why}`);
  }
}
const toStdout = (line: string) => process.stdout.write(`${line}\n`);

/**
 * The registration body, from a file or stdin, never from argv (it may hold an Azure
 * client secret, and argv is visible to every user of the machine). Parse errors name
 * the file only: Node's JSON messages quote the text around the error.
 */
async function readBody(file: string): Promise<Record<string, unknown>> {
  let raw: string;
  try {
    raw = file === '-' ? await text(process.stdin) : await readFile(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, 1);
  }
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    throw new CliError(`${file === '-' ? 'stdin' : file} is not valid JSON`, 1);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new CliError(`${file === '-' ? 'stdin' : file} must hold one JSON object`, 1);
  return body as Record<string, unknown>;
}

function showVersion(v: StorageVersion): void {
  printFields([
    ['version', v.version],
    ['provider', v.provider],
    ['key', v.keyId],
    ...Object.entries(v.config).map(([k, val]): [string, unknown] => [`  ${k}`, val]),
    ['registered', v.createdAt],
    ['handshake', v.handshake.ok ? 'passed' : 'failed'],
  ]);
}

const POLICY_FILES = {
  'trust-policy.json': 'trustPolicy',
  'permissions-policy.json': 'permissionsPolicy',
  'key-policy-statement.json': 'keyPolicyStatement',
} as const;

/** `custody storage …`: bring-your-own bucket and key (operator token or a `tenant:admin` key). */
export function storageCommand(program: Command): void {
  const storage = program
    .command('storage')
    .description('register and inspect a tenant’s storage and key (CUSTODY_URL, CUSTODY_TOKEN)');

  withJson(
    storage
      .command('setup-templates')
      .description('the IAM trust, permissions and KMS key policies for the tenant’s AWS account, filled in')
      .requiredOption('--tenant <id>', 'tenant id')
      .option('--bucket <name>', 'S3 bucket')
      .option('--prefix <prefix>', 'key prefix in the bucket')
      .option('--kms-key-arn <arn>', 'the tenant’s KMS key')
      .option('--role-arn <arn>', 'the role Custody assumes')
      .option(
        '--object-lock <mode>',
        'GOVERNANCE or COMPLIANCE: the S3 Object Lock (WORM) permissions policy',
      )
      .option('--out-dir <dir>', `write ${Object.keys(POLICY_FILES).join(', ')} there`),
  ).action(
    async (
      opts: JsonOption & {
        tenant: string;
        bucket?: string;
        prefix?: string;
        kmsKeyArn?: string;
        roleArn?: string;
        objectLock?: string;
        outDir?: string;
      },
    ) => {
      const setup = await api.call<AwsSetup>('GET', tenantPath(opts.tenant, 'storage/aws-setup'), {
        query: {
          bucket: opts.bucket,
          prefix: opts.prefix,
          kmsKeyArn: opts.kmsKeyArn,
          roleArn: opts.roleArn,
          objectLock: opts.objectLock,
        },
      });
      if (opts.outDir) {
        await mkdir(opts.outDir, { recursive: true });
        for (const [file, field] of Object.entries(POLICY_FILES)) {
          await writeFile(path.join(opts.outDir, file), `${JSON.stringify(setup[field], null, 2)}\n`);
        }
        note(`wrote ${Object.keys(POLICY_FILES).join(', ')} to ${opts.outDir}`);
      }
      emit(opts, setup, () => {
        printFields([
          ['external id', setup.externalId],
          [
            'connector principal',
            setup.connectorPrincipal ?? 'not configured (CUSTODY_AWS_CONNECTOR_PRINCIPAL)',
          ],
          ['still missing', setup.missing.length ? setup.missing.join(', ') : undefined],
        ]);
        setup.steps.forEach((s, i) => {
          toStdout(`${i + 1}. ${s}`);
        });
        if (opts.outDir) return;
        for (const [file, field] of Object.entries(POLICY_FILES)) {
          toStdout(`\n# ${file}`);
          printJson(setup[field]);
        }
      });
    },
  );

  withJson(
    storage
      .command('register')
      .description('run the test-encrypt handshake and, if every step passes, activate a new storage version')
      .requiredOption('--tenant <id>', 'tenant id')
      .requiredOption('--file <path>', 'the registration JSON (`-` for stdin); secrets stay out of argv'),
  ).action(async (opts: JsonOption & { tenant: string; file: string }) => {
    const body = await readBody(opts.file);
    try {
      const r = await api.call<{ version: number; status: string; handshake: Handshake }>(
        'PUT',
        tenantPath(opts.tenant, 'storage'),
        { json: body },
      );
      emit(opts, r, () => {
        toStdout(`storage version ${r.version} ${r.status}`);
        printSteps(r.handshake, toStdout);
      });
    } catch (err) {
      // The failing step is what the tenant must fix: show every step before the one-line error.
      const h = err instanceof ApiError ? (err.problem?.handshake as Handshake | undefined) : undefined;
      if (h) printSteps(h, note);
      throw err;
    }
  });

  withJson(
    storage
      .command('show')
      .description('the active storage version and its history (never a secret)')
      .requiredOption('--tenant <id>', 'tenant id'),
  ).action(async (opts: JsonOption & { tenant: string }) => {
    const s = await api.call<{ active: StorageVersion | null; history: StorageVersion[] }>(
      'GET',
      tenantPath(opts.tenant, 'storage'),
    );
    emit(opts, s, () => {
      if (s.active) showVersion(s.active);
      else toStdout('no storage registered');
      toStdout('');
      printTable(
        ['VERSION', 'PROVIDER', 'KEY', 'REGISTERED'],
        s.history.map((v) => [v.version, v.provider, v.keyId, v.createdAt]),
      );
    });
  });

  // The API has no dry run, and registering again would create a new version: this shows
  // the handshake the active version passed when it was registered.
  withJson(
    storage
      .command('test')
      .description('show the handshake the active version passed at registration (register again to re-test)')
      .requiredOption('--tenant <id>', 'tenant id'),
  ).action(async (opts: JsonOption & { tenant: string }) => {
    const { active } = await api.call<{ active: StorageVersion | null }>(
      'GET',
      tenantPath(opts.tenant, 'storage'),
    );
    if (!active) throw new CliError(`tenant ${opts.tenant} has no storage registered`, 1);
    emit(opts, active.handshake, () => {
      toStdout(
        `version ${active.version} (${active.provider}), handshake at ${active.createdAt}: ${active.handshake.ok ? 'passed' : 'failed'}`,
      );
      printSteps(active.handshake, toStdout);
    });
    if (!active.handshake.ok) process.exitCode = 1;
  });
}
