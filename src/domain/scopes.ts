export const SCOPES = ['tenant:admin', 'recordings:write', 'recordings:read', 'recordings:delete'] as const;
export type Scope = (typeof SCOPES)[number];

/** Who is calling: the operator (every tenant, no recording content) or one tenant's API key. */
export type Principal =
  | { kind: 'operator' }
  | { kind: 'api-key'; tenantId: string; keyId: string; scopes: Scope[] };

/** The actor string written into audit entries. */
export const actorOf = (p: Principal) => (p.kind === 'operator' ? 'operator' : `api-key:${p.keyId}`);
