import type { Queryable } from './pool.js';

export interface StorageVersionRow {
  tenant_id: string;
  version: number;
  provider: string;
  config: Record<string, unknown>;
  secret_ciphertext: Buffer | null;
  key_id: string;
  handshake: unknown;
  created_at: Date;
}

/** The number the tenant's next version gets; the caller holds the tenant row lock. */
export async function nextStorageVersion(db: Queryable, tenantId: string): Promise<number> {
  const r = await db.query<{ next: number }>(
    'SELECT COALESCE(MAX(version), 0) + 1 AS next FROM storage_versions WHERE tenant_id = $1',
    [tenantId],
  );
  return Number(r.rows[0]!.next);
}

export async function insertStorageVersion(
  db: Queryable,
  v: {
    tenantId: string;
    version: number;
    provider: string;
    config: Record<string, unknown>;
    secretCiphertext: Buffer | null;
    keyId: string;
    handshake: unknown;
  },
): Promise<StorageVersionRow> {
  const r = await db.query<StorageVersionRow>(
    `INSERT INTO storage_versions (tenant_id, version, provider, config, secret_ciphertext, key_id, handshake)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     RETURNING *`,
    [
      v.tenantId,
      v.version,
      v.provider,
      JSON.stringify(v.config),
      v.secretCiphertext,
      v.keyId,
      JSON.stringify(v.handshake),
    ],
  );
  return r.rows[0]!;
}

export async function getStorageVersion(
  db: Queryable,
  tenantId: string,
  version: number,
): Promise<StorageVersionRow | undefined> {
  const r = await db.query<StorageVersionRow>(
    'SELECT * FROM storage_versions WHERE tenant_id = $1 AND version = $2',
    [tenantId, version],
  );
  return r.rows[0];
}

export async function listStorageVersions(db: Queryable, tenantId: string): Promise<StorageVersionRow[]> {
  const r = await db.query<StorageVersionRow>(
    'SELECT * FROM storage_versions WHERE tenant_id = $1 ORDER BY version DESC',
    [tenantId],
  );
  return r.rows;
}
