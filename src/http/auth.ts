import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import { getApiKeyForAuth } from '../db/api-keys.js';
import type { Queryable } from '../db/pool.js';
import type { Principal, Scope } from '../domain/scopes.js';
import { unauthenticated } from '../errors.js';

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** `ck_<key id>_<secret>`: the id finds the row, the secret's SHA-256 is compared in constant time. */
const API_KEY = /^ck_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export function bearerToken(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (!header) return undefined;
  const m = /^Bearer ([\x21-\x7e]+)$/i.exec(header);
  return m?.[1];
}

/**
 * Resolves the caller. Missing, unknown, expired or revoked credentials all answer the
 * same 401, so a caller learns nothing about which keys exist.
 */
export async function authenticate(
  db: Queryable,
  adminToken: string | undefined,
  req: Request,
): Promise<Principal> {
  const token = bearerToken(req);
  if (!token) throw unauthenticated();
  if (adminToken && timingSafeEqual(sha256(token), sha256(adminToken))) return { kind: 'operator' };
  const m = API_KEY.exec(token);
  if (!m) throw unauthenticated();
  const row = await getApiKeyForAuth(db, m[1]!);
  const presented = sha256(token);
  // Compare against a dummy when the id is unknown so both paths cost the same.
  const stored = row?.key_hash ?? Buffer.alloc(32);
  const matches = timingSafeEqual(presented, stored) && row !== undefined;
  if (!matches || row.revoked_at || (row.expires_at && row.expires_at.getTime() <= Date.now())) {
    throw unauthenticated();
  }
  return { kind: 'api-key', tenantId: row.tenant_id, keyId: row.id, scopes: row.scopes as Scope[] };
}

export const hasAnyScope = (p: Principal, scopes: readonly Scope[]) =>
  p.kind === 'api-key' && scopes.some((s) => p.scopes.includes(s));
