import { randomBytes } from 'node:crypto';
import { type Db, transaction } from '../db/pool.js';
import { getTenant, insertTenant, type TenantRow, updateTenant } from '../db/tenants.js';
import { conflict, notFound } from '../errors.js';
import { appendAudit } from './audit.js';

export interface TenantView {
  id: string;
  name: string;
  retention: string;
  activeStorageVersion: number | null;
  status: TenantRow['status'];
  /** `encrypted` (default), `plaintext` or `off`: the JSON document written beside each recording. */
  metadataSidecar: TenantRow['metadata_sidecar'];
  createdAt: string;
  updatedAt: string;
}

export const tenantView = (t: TenantRow): TenantView => ({
  id: t.id,
  name: t.name,
  retention: t.retention,
  activeStorageVersion: t.active_storage_version,
  status: t.status,
  metadataSidecar: t.metadata_sidecar,
  createdAt: t.created_at.toISOString(),
  updatedAt: t.updated_at.toISOString(),
});

export async function createTenant(
  db: Db,
  actor: string,
  input: { id: string; name: string; retention: string },
): Promise<TenantView> {
  return transaction(db, async (tx) => {
    // Random, never derived from the id: the confused-deputy guard for AssumeRole.
    const awsExternalId = randomBytes(24).toString('base64url');
    const row = await insertTenant(tx, { ...input, awsExternalId });
    if (!row) throw conflict(`Tenant ${input.id} already exists.`);
    await appendAudit(tx, row.id, {
      actor,
      action: 'tenant.created',
      target: `tenant:${row.id}`,
      detail: { name: row.name, retention: row.retention },
    });
    return tenantView(row);
  });
}

export async function requireTenant(db: Db, id: string): Promise<TenantRow> {
  const row = await getTenant(db, id);
  if (!row) throw notFound('Tenant');
  return row;
}

export async function patchTenant(
  db: Db,
  actor: string,
  id: string,
  patch: { name?: string; retention?: string; metadataSidecar?: TenantRow['metadata_sidecar'] },
): Promise<TenantView> {
  return transaction(db, async (tx) => {
    const row = await updateTenant(tx, id, patch);
    if (!row) throw notFound('Tenant');
    await appendAudit(tx, id, {
      actor,
      action: 'tenant.updated',
      target: `tenant:${id}`,
      detail: { ...patch },
    });
    return tenantView(row);
  });
}
