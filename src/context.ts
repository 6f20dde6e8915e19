import type { Config } from './config/index.js';
import { DataKeyCache } from './crypto/index.js';
import { createPool, type Db } from './db/pool.js';
import { LinkSigner } from './domain/link-signer.js';
import { registerAws } from './aws/connector.js';
import { registerAzure } from './azure/connector.js';
import { localPlan } from './domain/storage/plans/local.js';
import type { ProviderPlan } from './domain/storage/plans/plan.js';
import { StorageResolver } from './domain/storage/resolver.js';
import { KeyProviderRegistry } from './keys/registry.js';
import { loadOrCreateMasterKey, LocalKeyProviderFactory } from './keys/local/index.js';
import { spoolKeyring } from './keys/service-keys.js';
import type { Logger } from './observability/logger.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { Producer } from './queue/producer.js';
import { LocalStorageFactory } from './storage/local/index.js';
import { StorageRegistry } from './storage/registry.js';
import { TenantSecrets } from './security/tenant-secrets.js';
import { Spool } from './spool/spool.js';

/** Everything the API and the workers share, built once per process and passed down. */
export interface Context {
  config: Config;
  log: Logger;
  db: Db;
  metrics: Metrics;
  producer: Producer;
  storage: StorageResolver;
  keyProviders: KeyProviderRegistry;
  spool: Spool;
  dataKeys: DataKeyCache;
  links: LinkSigner;
  /** Seals and opens tenants' write-only credentials (under CUSTODY_SECRETS_KEY). */
  secrets: TenantSecrets;
}

export interface ContextOverrides {
  /** Decorates every tenant key provider (tests count calls at the provider). */
  keyProviders?: KeyProviderRegistry;
  storageTargets?: StorageRegistry;
}

/**
 * Builds the shared context. `config` must have its generated secrets resolved
 * (`ensureGeneratedSecrets`). Providers are registered here and nowhere else.
 */
export async function createContext(
  config: Config,
  log: Logger,
  overrides: ContextOverrides = {},
): Promise<Context> {
  if (!config.linkSigningKeys || !config.secretsKey)
    throw new Error('secrets must be resolved before createContext');
  const db = createPool(config.databaseUrl, config.dbSchema);
  const keyProviders = overrides.keyProviders ?? new KeyProviderRegistry();
  const storageTargets = overrides.storageTargets ?? new StorageRegistry();
  const plans = new Map<string, ProviderPlan>();
  if (config.local.enabled) {
    const masterKey = await loadOrCreateMasterKey(config.local.keyFile, log);
    if (!keyProviders.has('local')) keyProviders.register(new LocalKeyProviderFactory(masterKey));
    if (!storageTargets.has('local'))
      storageTargets.register(new LocalStorageFactory(config.local.storageDir));
    plans.set('local', localPlan);
  }
  if (config.aws.enabled) plans.set('s3', registerAws(config, { storageTargets, keyProviders }));
  if (config.azure.enabled) plans.set('azure-blob', registerAzure(config, { storageTargets, keyProviders }));
  const metrics = createMetrics();
  const secrets = new TenantSecrets(config.secretsKey);
  return {
    config,
    log,
    db,
    metrics,
    producer: new Producer(config.redisUrl, config.queuePrefix),
    storage: new StorageResolver(
      db,
      plans,
      storageTargets,
      keyProviders,
      secrets,
      (provider, operation, outcome) => metrics.keyProviderCalls.inc({ provider, operation, outcome }),
    ),
    keyProviders,
    spool: new Spool(config.spoolDir, spoolKeyring(config.secretsKey)),
    dataKeys: new DataKeyCache({ ttlMs: config.dataKeyCacheMs, max: 10_000 }),
    links: new LinkSigner(config.linkSigningKeys),
    secrets,
  };
}

export async function closeContext(ctx: Context): Promise<void> {
  await ctx.producer.close();
  await ctx.db.end();
}
