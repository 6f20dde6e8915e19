import type { Queryable } from './pool.js';

export interface TenantRow {
  id: string;
  name: string;
  retention: string;
  aws_external_id: string;
  active_storage_version: number | null;
  /** `deleting`/`deleted` once offboarded (migration 1763900004000). */
  status: 'active' | 'deleting' | 'deleted';
  /** Metadata sidecar beside each recording (migration 1763900005000). */
  metadata_sidecar: 'encrypted' | 'plaintext' | 'off';
  created_at: Date;
  updated_at: Date;
}

export async function insertTenant(
  db: Queryable,
  t: { id: string; name: string; retention: string; awsExternalId: string },
): Promise<TenantRow | undefined> {
  const r = await db.query<TenantRow>(
    `INSERT INTO tenants (id, name, retention, aws_external_id) VALUES ($1, $2, $3, $4)
     ON CONFLICT (id) DO NOTHING RETURNING *`,
    [t.id, t.name, t.retention, t.awsExternalId],
  );
  return r.rows[0];
}

export async function getTenant(db: Queryable, id: string): Promise<TenantRow | undefined> {
  return (await db.query<TenantRow>('SELECT * FROM tenants WHERE id = $1', [id])).rows[0];
}

export async function updateTenant(
  db: Queryable,
  id: string,
  patch: { name?: string; retention?: string; metadataSidecar?: TenantRow['metadata_sidecar'] },
): Promise<TenantRow | undefined> {
  const r = await db.query<TenantRow>(
    `UPDATE tenants SET name = COALESCE($2, name), retention = COALESCE($3, retention),
       metadata_sidecar = COALESCE($4, metadata_sidecar), updated_at = now()
      WHERE id = $1 RETURNING *`,
    [id, patch.name ?? null, patch.retention ?? null, patch.metadataSidecar ?? null],
  );
  return r.rows[0];
}

export async function setActiveStorageVersion(db: Queryable, id: string, version: number): Promise<void> {
  await db.query('UPDATE tenants SET active_storage_version = $2, updated_at = now() WHERE id = $1', [
    id,
    version,
  ]);
}
