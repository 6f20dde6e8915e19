import type { Queryable } from './pool.js';

export interface ApiKeyRow {
  id: string;
  tenant_id: string;
  name: string;
  scopes: string[];
  expires_at: Date | null;
  revoked_at: Date | null;
  created_at: Date;
}

const COLUMNS = 'id, tenant_id, name, scopes, expires_at, revoked_at, created_at';

export async function insertApiKey(
  db: Queryable,
  k: {
    id: string;
    tenantId: string;
    name: string;
    keyHash: Buffer;
    scopes: string[];
    expiresAt: Date | null;
  },
): Promise<ApiKeyRow> {
  const r = await db.query<ApiKeyRow>(
    `INSERT INTO api_keys (id, tenant_id, name, key_hash, scopes, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
     RETURNING ${COLUMNS}`,
    [k.id, k.tenantId, k.name, k.keyHash, k.scopes, k.expiresAt],
  );
  return r.rows[0]!;
}

/**
 * The key's row with its stored hash, for a constant-time comparison by the caller.
 * Only keys of an `active` tenant: a tenant being deleted (or deleted) cannot
 * authenticate, whatever happened to its keys.
 */
export async function getApiKeyForAuth(
  db: Queryable,
  id: string,
): Promise<(ApiKeyRow & { key_hash: Buffer }) | undefined> {
  const r = await db.query<ApiKeyRow & { key_hash: Buffer }>(
    `SELECT ${COLUMNS}, key_hash FROM api_keys
      WHERE id = $1 AND EXISTS (SELECT 1 FROM tenants t WHERE t.id = api_keys.tenant_id AND t.status = 'active')`,
    [id],
  );
  return r.rows[0];
}

export async function listApiKeys(db: Queryable, tenantId: string): Promise<ApiKeyRow[]> {
  const r = await db.query<ApiKeyRow>(
    `SELECT ${COLUMNS} FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id`,
    [tenantId],
  );
  return r.rows;
}

export async function revokeApiKey(
  db: Queryable,
  tenantId: string,
  id: string,
): Promise<ApiKeyRow | undefined> {
  const r = await db.query<ApiKeyRow>(
    `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE tenant_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
    [tenantId, id],
  );
  return r.rows[0];
}
