import type { Context } from '../../context.js';
import { transaction } from '../../db/pool.js';
import {
  insertStorageVersion,
  listStorageVersions,
  nextStorageVersion,
  type StorageVersionRow,
} from '../../db/storage-versions.js';
import { setActiveStorageVersion } from '../../db/tenants.js';
import { AppError, badRequest, KeyProviderError, StorageError } from '../../errors.js';
import { appendAudit } from '../audit.js';
import { assertEndpointAllowed } from '../../security/endpoint-guard.js';
import { requireTenant } from '../tenants.js';
import { runHandshake } from './handshake.js';

export interface StorageVersionView {
  version: number;
  provider: string;
  config: Record<string, unknown>;
  keyId: string;
  createdAt: string;
  handshake: unknown;
}

/** Never a secret: only the clear config is shown. */
const view = (v: StorageVersionRow): StorageVersionView => ({
  version: v.version,
  provider: v.provider,
  config: v.config,
  keyId: v.key_id,
  createdAt: v.created_at.toISOString(),
  handshake: v.handshake,
});

export async function describeStorage(ctx: Context, tenantId: string) {
  const tenant = await requireTenant(ctx.db, tenantId);
  const versions = (await listStorageVersions(ctx.db, tenantId)).map(view);
  return {
    active: versions.find((v) => v.version === tenant.active_storage_version) ?? null,
    history: versions,
  };
}

/**
 * Registers a tenant's bucket and key: runs the test-encrypt handshake against them and,
 * only if every step passes, records an immutable storage version and activates it.
 */
export async function registerStorage(
  ctx: Context,
  actor: string,
  tenantId: string,
  body: Record<string, unknown>,
) {
  const tenant = await requireTenant(ctx.db, tenantId);
  const provider = String(body.provider);
  const plan = ctx.storage.plan(provider);
  if (!plan)
    throw badRequest(
      `Storage provider "${provider}" is not enabled on this service.`,
      'PROVIDER_NOT_ENABLED',
    );
  const parsed = plan.request.safeParse(body);
  if (!parsed.success)
    throw badRequest(`Invalid body: ${parsed.error.issues[0]?.message}`, 'VALIDATION_FAILED');
  const request = parsed.data as Record<string, unknown>;
  // Before any connection: tenant-supplied URLs must not point inside our network.
  plan.hosts?.(request, ctx.config.allowPrivateEndpoints);
  for (const [field, url] of Object.entries(plan.urls?.(request) ?? {}))
    await assertEndpointAllowed(url, field, { allow: ctx.config.allowPrivateEndpoints });
  const { config, secrets } = plan.split(request, tenant);

  const storage = await ctx.storage.build(tenantId, provider, config, secrets).catch((err: unknown) => {
    // A config the provider refuses outright (before any call): the tenant's input is wrong.
    if (err instanceof KeyProviderError || err instanceof StorageError)
      throw badRequest(`Invalid storage configuration: ${err.message}`, 'VALIDATION_FAILED');
    throw err;
  });
  const handshake = await runHandshake(storage, (err) =>
    ctx.log.info({ tenantId, err: (err as Error).message }, 'handshake step failed'),
  );
  await appendAudit(ctx.db, tenantId, {
    actor,
    action: 'storage.handshake',
    target: `tenant:${tenantId}`,
    detail: { provider, ok: handshake.ok, failedStep: handshake.steps.find((s) => !s.ok)?.name ?? null },
  });
  if (!handshake.ok) {
    const failed = handshake.steps.find((s) => !s.ok)!;
    throw new AppError(
      422,
      'HANDSHAKE_FAILED',
      `The ${failed.name} step failed: ${failed.error?.code}. ${failed.error?.message}`,
      {
        extra: { handshake },
      },
    );
  }
  const pinned = plan.pin?.(config, storage) ?? config;
  const row = await transaction(ctx.db, async (tx) => {
    await tx.query('SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE', [tenantId]);
    const version = await nextStorageVersion(tx, tenantId);
    const v = await insertStorageVersion(tx, {
      tenantId,
      version,
      provider,
      config: pinned,
      // Write-only: sealed under the service secrets key, bound to tenant and version.
      secretCiphertext: secrets ? await ctx.secrets.seal(tenantId, version, secrets) : null,
      keyId: storage.keys.keyId,
      handshake,
    });
    await setActiveStorageVersion(tx, tenantId, v.version);
    await appendAudit(tx, tenantId, {
      actor,
      action: 'storage.activated',
      target: `tenant:${tenantId}`,
      detail: { version: v.version, provider, keyId: v.key_id },
    });
    return v;
  });
  return { version: row.version, status: 'active' as const, handshake };
}
