import { writeFile } from 'node:fs/promises';
import { type Command, Option } from 'commander';
import { certificateFile } from '../../domain/offboarding/certificate.js';
import { api, CliError, tenantPath } from '../api-client.js';
import { emit, type JsonOption, note, printFields, withJson } from '../output.js';
import { pollUntil } from '../poll.js';

interface Tenant {
  id: string;
  name: string;
  retention: string;
  activeStorageVersion: number | null;
  status: string;
  metadataSidecar: string;
  createdAt: string;
  updatedAt: string;
}

interface ExportView {
  id: string;
  status: 'running' | 'done' | 'failed';
  recordings: number | null;
  location: string | null;
  objectKey: string;
  storageVersion: number;
  manifestSha256: string | null;
  error?: { code: string; message: string };
}

interface Deletion {
  tenantId: string;
  status: 'deleting' | 'deleted';
  requestedAt: string;
  completedAt: string | null;
  lastError: string | null;
  certificate?: string;
  kid?: string;
  content?: { recordings: unknown[]; auditHead: { seq: number; hash: string } };
  storageCopy?: { location: string | null; error: string | null };
}

function showTenant(t: Tenant): void {
  printFields([
    ['id', t.id],
    ['name', t.name],
    ['status', t.status],
    ['retention', t.retention],
    ['storage', t.activeStorageVersion === null ? 'none registered' : `version ${t.activeStorageVersion}`],
    ['metadata sidecar', t.metadataSidecar],
    ['created', t.createdAt],
    ['updated', t.updatedAt],
  ]);
}

function showExport(e: ExportView): void {
  printFields([
    ['export', e.id],
    ['status', e.status],
    ['recordings', e.recordings ?? undefined],
    ['manifest', e.location ?? e.objectKey],
    ['sha256', e.manifestSha256 ?? undefined],
    ['storage', `version ${e.storageVersion}`],
    ['error', e.error ? `${e.error.code}: ${e.error.message}` : undefined],
  ]);
}

function showDeletion(d: Deletion): void {
  printFields([
    ['tenant', d.tenantId],
    ['status', d.status],
    ['requested', d.requestedAt],
    ['completed', d.completedAt ?? undefined],
    ['last error', d.lastError ?? undefined],
    ['recordings deleted', d.content?.recordings.length],
    ['audit head', d.content ? `seq ${d.content.auditHead.seq} ${d.content.auditHead.hash}` : undefined],
    ['certificate kid', d.kid],
    [
      'storage copy',
      d.storageCopy ? (d.storageCopy.location ?? `not written: ${d.storageCopy.error}`) : undefined,
    ],
  ]);
}

/** The same file the service copies into the tenant's storage (`_custody/deletion-certificate.json`). */
async function saveCertificate(d: Deletion, file: string): Promise<void> {
  if (!d.certificate || !d.kid) throw new CliError(`tenant ${d.tenantId} is not deleted yet`, 1);
  await writeFile(file, certificateFile(d.certificate, d.kid));
  note(`certificate written to ${file}`);
}

const certificateOf = (tenant: string) =>
  api.call<Deletion>('GET', tenantPath(tenant, 'deletion-certificate'));

/** `custody tenants …`: create, read, change, export and delete tenants (operator token). */
export function tenantsCommand(program: Command): void {
  const tenants = program
    .command('tenants')
    .description('create, read, change, export and delete tenants (CUSTODY_URL, CUSTODY_TOKEN)');
  // No `tenants list`: the API has no route that lists tenants.

  withJson(
    tenants
      .command('create <id>')
      .description('create a tenant')
      .requiredOption('--name <name>', 'display name')
      .requiredOption('--retention <duration>', 'ISO-8601 duration recordings are kept, e.g. P90D'),
  ).action(async (id: string, opts: JsonOption & { name: string; retention: string }) => {
    const t = await api.call<Tenant>('POST', '/v1/tenants', {
      json: { id, name: opts.name, retention: opts.retention },
    });
    emit(opts, t, () => showTenant(t));
  });

  withJson(tenants.command('get <id>').description('show a tenant')).action(
    async (id: string, opts: JsonOption) => {
      const t = await api.call<Tenant>('GET', tenantPath(id));
      emit(opts, t, () => showTenant(t));
    },
  );

  withJson(
    tenants
      .command('update <id>')
      .description('change name, retention or metadata sidecar (applies to recordings received afterwards)')
      .option('--name <name>', 'display name')
      .option('--retention <duration>', 'ISO-8601 duration, e.g. P90D')
      .addOption(
        new Option('--metadata-sidecar <mode>', 'the JSON document beside each recording').choices([
          'encrypted',
          'plaintext',
          'off',
        ]),
      ),
  ).action(
    async (
      id: string,
      opts: JsonOption & { name?: string; retention?: string; metadataSidecar?: string },
    ) => {
      const { name, retention, metadataSidecar } = opts;
      if (name === undefined && retention === undefined && metadataSidecar === undefined)
        throw new CliError('give --name, --retention or --metadata-sidecar', 1);
      const t = await api.call<Tenant>('PATCH', tenantPath(id), {
        json: { name, retention, metadataSidecar },
      });
      emit(opts, t, () => showTenant(t));
    },
  );

  withJson(
    tenants
      .command('export <id>')
      .description('write a manifest of every recording into the tenant’s own storage')
      .option('--wait', 'wait until the manifest is written; exit 1 if the export failed'),
  ).action(async (id: string, opts: JsonOption & { wait?: boolean }) => {
    let e = await api.call<ExportView>('POST', tenantPath(id, 'export'));
    if (opts.wait) {
      e = await pollUntil(
        e,
        () => api.call<ExportView>('GET', tenantPath(id, `export/${encodeURIComponent(e.id)}`)),
        (v) => v.status !== 'running',
        (v) => `export ${v.id}: ${v.status}`,
      );
    }
    emit(opts, e, () => showExport(e));
    if (e.status === 'failed') process.exitCode = 1;
  });

  withJson(
    tenants
      .command('delete <id>')
      .description(
        'delete a tenant: every recording, its keys and Custody’s access to its storage; issues a signed certificate',
      )
      .requiredOption('--confirm <id>', 'the tenant id again')
      .option('--wait', 'wait for the deletion certificate')
      .option('-o, --output <file>', 'save the certificate there (implies --wait)'),
  ).action(async (id: string, opts: JsonOption & { confirm: string; wait?: boolean; output?: string }) => {
    let d = await api.call<Deletion>('DELETE', tenantPath(id), { json: { confirm: opts.confirm } });
    if (opts.wait || opts.output || d.status === 'deleted') {
      d = await pollUntil(
        await certificateOf(id),
        () => certificateOf(id),
        (v) => v.status === 'deleted',
        (v) => `deleting ${v.tenantId}${v.lastError ? ` (retrying: ${v.lastError})` : ''}`,
      );
    }
    emit(opts, d, () => showDeletion(d));
    if (opts.output) await saveCertificate(d, opts.output);
  });

  withJson(
    tenants
      .command('certificate <id>')
      .description('show a deleted tenant’s deletion certificate (or the deletion’s progress)')
      .option('-o, --output <file>', 'save the certificate there'),
  ).action(async (id: string, opts: JsonOption & { output?: string }) => {
    const d = await certificateOf(id);
    emit(opts, d, () => showDeletion(d));
    if (opts.output) await saveCertificate(d, opts.output);
  });
}
