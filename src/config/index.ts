import path from 'node:path';
import { type Env, envSchema, type Role } from './env-schema.js';
import { type LinkSigningKey, parseKey32, parseLinkSigningKeys } from './keys-parsing.js';
import { expandSecretFiles } from './secrets-from-env.js';
import { parseAllowList } from '../security/endpoint-guard.js';

export type { Role } from './env-schema.js';
export type { LinkSigningKey } from './keys-parsing.js';

export interface Config {
  role: Role;
  production: boolean;
  logLevel: string;
  port: number;
  databaseUrl: string;
  dbSchema: string;
  redisUrl: string;
  queuePrefix: string;
  adminToken: string | undefined;
  publicUrl: string;
  /** Undefined outside production until `ensureGeneratedSecrets` fills them from the data dir. */
  linkSigningKeys: LinkSigningKey[] | undefined;
  secretsKey: Buffer | undefined;
  dataDir: string;
  spoolDir: string;
  spoolQuotaBytes: number;
  maxRecordingBytes: number;
  dataKeyCacheMs: number;
  linkTtlSeconds: number;
  local: { enabled: boolean; keyFile: string; storageDir: string };
  allowPrivateEndpoints: string[];
  awsConnectorPrincipal: string | undefined;
  /** bull-board at /admin/queues (operator token only). */
  queueDashboard: boolean;
  aws: { enabled: boolean; sessionSeconds: number; stsRegion: string };
  azure: {
    enabled: boolean;
    authorityHost: string | undefined;
    disableInstanceDiscovery: boolean;
    disableChallengeResourceVerification: boolean;
  };
  worker: {
    metricsPort: number;
    concurrency: number;
    retentionIntervalMs: number;
    reconcileIntervalMs: number;
    auditCheckpointIntervalMs: number;
    blockedRetryMs: number;
    jobLockMs: number;
    keyHealthIntervalMs: number;
    /** How long a relocated recording's old object is kept after the switch. */
    keyJobDeleteGraceMs: number;
    /** Recordings a key job works on at once. */
    keyJobConcurrency: number;
  };
  /** Rotation policy in days: `custody_key_rotation_overdue` compares the active key's age with it. */
  keyRotationDays: number;
  /** Webhook dispatcher: tick, first retry delay (doubling, capped at 1 h), give-up age of an event. */
  webhooks: { intervalMs: number; retryBaseMs: number; giveUpMs: number };
  inbox: { dir: string; hmacKey: Buffer } | undefined;
  /** Named crash point for the crash-safety tests; never set in production. */
  crashAt: string | undefined;
}

/** Every bad variable, reported at once. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Validates the environment once, at start-up, for one role. Nothing reads
 * `process.env` elsewhere: the result is passed down explicitly.
 */
export function loadConfig(rawEnv: NodeJS.ProcessEnv, role: Role): Config {
  const problems: string[] = [];
  const env = expandSecretFiles(rawEnv, problems);
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.')}: ${issue.message}`);
  }
  // Keep checking with the raw values so one run reports every problem, not the first kind.
  const e = parsed.success ? parsed.data : (env as unknown as Env);
  const production = e.NODE_ENV === 'production';
  const serves = role === 'api' || role === 'start';
  const runsKeys = role !== 'migrate';

  if (serves && !e.CUSTODY_ADMIN_TOKEN) problems.push('CUSTODY_ADMIN_TOKEN: required to serve the API');

  let linkSigningKeys: LinkSigningKey[] | undefined;
  if (e.CUSTODY_LINK_SIGNING_KEYS) {
    const r = parseLinkSigningKeys(e.CUSTODY_LINK_SIGNING_KEYS);
    if (r.problem) problems.push(`CUSTODY_LINK_SIGNING_KEYS: ${r.problem}`);
    linkSigningKeys = r.keys;
  } else if (production && runsKeys) {
    problems.push('CUSTODY_LINK_SIGNING_KEYS: required when NODE_ENV=production');
  }

  let secretsKey: Buffer | undefined;
  if (e.CUSTODY_SECRETS_KEY) {
    const r = parseKey32(e.CUSTODY_SECRETS_KEY);
    if (r.problem) problems.push(`CUSTODY_SECRETS_KEY: ${r.problem}`);
    secretsKey = r.key;
  } else if (production && runsKeys) {
    problems.push('CUSTODY_SECRETS_KEY: required when NODE_ENV=production');
  }

  let inbox: Config['inbox'];
  if (e.CUSTODY_INBOX_DIR || e.CUSTODY_INBOX_HMAC_KEY) {
    if (!e.CUSTODY_INBOX_DIR || !e.CUSTODY_INBOX_HMAC_KEY) {
      problems.push('CUSTODY_INBOX_DIR and CUSTODY_INBOX_HMAC_KEY: direct queue ingest needs both');
    } else {
      const r = parseKey32(e.CUSTODY_INBOX_HMAC_KEY);
      if (r.problem) problems.push(`CUSTODY_INBOX_HMAC_KEY: ${r.problem}`);
      else inbox = { dir: path.resolve(e.CUSTODY_INBOX_DIR), hmacKey: r.key! };
    }
  }

  const allowPrivateEndpoints = (e.CUSTODY_ALLOW_PRIVATE_ENDPOINTS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  // The SSRF guard parses this list on every use; a typo (bad CIDR) must stop start-up
  // rather than fail each registration. One entry at a time, so every bad entry is listed.
  for (const entry of allowPrivateEndpoints) {
    try {
      parseAllowList([entry]);
    } catch (err) {
      const why = (err as Error).message.replace(
        /^Invalid CUSTODY_ALLOW_PRIVATE_ENDPOINTS entry/,
        'bad entry',
      );
      problems.push(`CUSTODY_ALLOW_PRIVATE_ENDPOINTS: ${why}`);
    }
  }

  if (problems.length > 0) throw new ConfigError(problems);

  const dataDir = path.resolve(e.CUSTODY_DATA_DIR);
  return {
    role,
    production,
    logLevel: e.LOG_LEVEL,
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    dbSchema: e.CUSTODY_DB_SCHEMA,
    redisUrl: e.REDIS_URL,
    queuePrefix: e.CUSTODY_QUEUE_PREFIX,
    adminToken: e.CUSTODY_ADMIN_TOKEN,
    publicUrl: (e.CUSTODY_PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, ''),
    linkSigningKeys,
    secretsKey,
    dataDir,
    spoolDir: path.resolve(e.CUSTODY_SPOOL_DIR ?? path.join(dataDir, 'spool')),
    spoolQuotaBytes: e.CUSTODY_SPOOL_QUOTA_BYTES,
    maxRecordingBytes: e.CUSTODY_MAX_RECORDING_BYTES,
    dataKeyCacheMs: e.CUSTODY_DATA_KEY_CACHE_SECONDS * 1000,
    linkTtlSeconds: e.CUSTODY_LINK_TTL_SECONDS,
    local: {
      enabled: e.CUSTODY_LOCAL_PROVIDER === 'on',
      keyFile: path.resolve(e.CUSTODY_LOCAL_KEY_FILE ?? path.join(dataDir, 'local-master.key')),
      storageDir: path.resolve(e.CUSTODY_LOCAL_STORAGE_DIR ?? path.join(dataDir, 'storage')),
    },
    allowPrivateEndpoints,
    awsConnectorPrincipal: e.CUSTODY_AWS_CONNECTOR_PRINCIPAL,
    queueDashboard: e.CUSTODY_QUEUE_DASHBOARD === 'on',
    aws: {
      enabled: e.CUSTODY_AWS_PROVIDER === 'on',
      sessionSeconds: e.CUSTODY_AWS_SESSION_SECONDS,
      stsRegion: e.CUSTODY_AWS_STS_REGION ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    },
    azure: {
      enabled: e.CUSTODY_AZURE_PROVIDER === 'on',
      authorityHost: e.AZURE_AUTHORITY_HOST,
      disableInstanceDiscovery: e.CUSTODY_AZURE_DISABLE_INSTANCE_DISCOVERY === 'true',
      disableChallengeResourceVerification: e.CUSTODY_KEYVAULT_DISABLE_CHALLENGE_VERIFICATION === 'true',
    },
    worker: {
      metricsPort: e.CUSTODY_WORKER_METRICS_PORT,
      concurrency: e.CUSTODY_TRANSFER_CONCURRENCY,
      retentionIntervalMs: e.CUSTODY_RETENTION_INTERVAL_SECONDS * 1000,
      reconcileIntervalMs: e.CUSTODY_RECONCILE_INTERVAL_SECONDS * 1000,
      auditCheckpointIntervalMs: e.CUSTODY_AUDIT_CHECKPOINT_INTERVAL_SECONDS * 1000,
      blockedRetryMs: e.CUSTODY_BLOCKED_RETRY_SECONDS * 1000,
      jobLockMs: e.CUSTODY_JOB_LOCK_MS,
      keyHealthIntervalMs: e.CUSTODY_KEY_HEALTH_INTERVAL_SECONDS * 1000,
      keyJobDeleteGraceMs: e.CUSTODY_KEY_JOB_DELETE_GRACE_SECONDS * 1000,
      keyJobConcurrency: e.CUSTODY_KEY_JOB_CONCURRENCY,
    },
    keyRotationDays: e.CUSTODY_KEY_ROTATION_DAYS,
    webhooks: {
      intervalMs: e.CUSTODY_WEBHOOK_INTERVAL_SECONDS * 1000,
      retryBaseMs: e.CUSTODY_WEBHOOK_RETRY_BASE_SECONDS * 1000,
      giveUpMs: e.CUSTODY_WEBHOOK_GIVE_UP_SECONDS * 1000,
    },
    inbox,
    crashAt: production ? undefined : e.CUSTODY_TEST_CRASH_AT,
  };
}
