import { createHash, randomBytes } from 'node:crypto';
import { type ApiKeyRow, insertApiKey, listApiKeys, revokeApiKey } from '../db/api-keys.js';
import { lockTenantStatus } from '../db/offboarding.js';
import { type Db, transaction } from '../db/pool.js';
import { badRequest, conflict, notFound } from '../errors.js';
import { appendAudit } from './audit.js';
import type { Scope } from './scopes.js';

export interface ApiKeyView {
  id: string;
  name: string;
  scopes: string[];
  expiresAt: string | null;
  revokedAt: string | null;
  createdAt: string;
}

const view = (k: ApiKeyRow): ApiKeyView => ({
  id: k.id,
  name: k.name,
  scopes: k.scopes,
  expiresAt: k.expires_at?.toISOString() ?? null,
  revokedAt: k.revoked_at?.toISOString() ?? null,
  createdAt: k.created_at.toISOString(),
});

/** Creates a key; the secret is returned this once and only its SHA-256 is kept. */
export async function createApiKey(
  db: Db,
  actor: string,
  tenantId: string,
  input: { name: string; scopes: Scope[]; expiresAt?: string },
): Promise<ApiKeyView & { key: string }> {
  const expiresAt = input.expiresAt ? new Date(input.expiresAt) : null;
  if (expiresAt && expiresAt.getTime() <= Date.now()) throw badRequest('expiresAt must be in the future.');
  const id = randomBytes(8).toString('hex');
  const key = `ck_${id}_${randomBytes(32).toString('base64url')}`;
  const keyHash = createHash('sha256').update(key, 'utf8').digest();
  return transaction(db, async (tx) => {
    // A key for a tenant being deleted would never authenticate: refuse it plainly.
    const status = await lockTenantStatus(tx, tenantId);
    if (status && status !== 'active') {
      throw conflict('The tenant is being deleted or is deleted.', 'TENANT_DELETED');
    }
    const row = await insertApiKey(tx, {
      id,
      tenantId,
      name: input.name,
      keyHash,
      scopes: [...new Set(input.scopes)],
      expiresAt,
    });
    await appendAudit(tx, tenantId, {
      actor,
      action: 'api-key.created',
      target: `api-key:${id}`,
      detail: { name: row.name, scopes: row.scopes, expiresAt: row.expires_at?.toISOString() ?? null },
    });
    return { ...view(row), key };
  });
}

export async function listKeys(db: Db, tenantId: string): Promise<ApiKeyView[]> {
  return (await listApiKeys(db, tenantId)).map(view);
}

export async function revokeKey(db: Db, actor: string, tenantId: string, keyId: string): Promise<void> {
  await transaction(db, async (tx) => {
    const row = await revokeApiKey(tx, tenantId, keyId);
    if (!row) throw notFound('API key');
    await appendAudit(tx, tenantId, {
      actor,
      action: 'api-key.revoked',
      target: `api-key:${keyId}`,
      detail: {},
    });
  });
}
