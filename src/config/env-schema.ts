import { z } from 'zod';

/** The roles a process can take; each validates only the configuration it needs. */
export type Role = 'migrate' | 'api' | 'worker' | 'start';

const bytes = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const seconds = (fallback: number) => z.coerce.number().positive().default(fallback);
const onOff = z.enum(['on', 'off']).default('on');
const trueFalse = z.enum(['true', 'false']).default('false');
const GiB = 1024 ** 3;

/**
 * Every environment variable the service reads, with its default. Names in the
 * contract's table keep their meaning; the rest are Custody's own additions.
 */
export const envSchema = z.object({
  NODE_ENV: z.string().default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  DATABASE_URL: z.string().url().default('postgres://127.0.0.1:5432/custody'),
  /** PostgreSQL schema holding Custody's tables (lets several deployments or test runs share a database). */
  CUSTODY_DB_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case SQL identifier')
    .default('public'),
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  CUSTODY_QUEUE_PREFIX: z.string().min(1).default('{custody}'),
  CUSTODY_ADMIN_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
  CUSTODY_PUBLIC_URL: z.string().url().optional(),
  CUSTODY_LINK_SIGNING_KEYS: z.string().optional(),
  CUSTODY_SECRETS_KEY: z.string().optional(),
  CUSTODY_DATA_DIR: z.string().default('./data'),
  CUSTODY_SPOOL_DIR: z.string().optional(),
  CUSTODY_SPOOL_QUOTA_BYTES: bytes(20 * GiB),
  CUSTODY_MAX_RECORDING_BYTES: bytes(4 * GiB),
  CUSTODY_DATA_KEY_CACHE_SECONDS: z.coerce.number().min(0).default(300),
  CUSTODY_LINK_TTL_SECONDS: z.coerce.number().int().min(1).max(86400).default(900),
  CUSTODY_LOCAL_PROVIDER: onOff,
  CUSTODY_LOCAL_KEY_FILE: z.string().optional(),
  CUSTODY_LOCAL_STORAGE_DIR: z.string().optional(),
  CUSTODY_ALLOW_PRIVATE_ENDPOINTS: z.string().default(''),
  CUSTODY_AWS_CONNECTOR_PRINCIPAL: z.string().optional(),
  /** The `s3` provider (tenant buckets through STS AssumeRole, tenant KMS keys). */
  CUSTODY_AWS_PROVIDER: onOff,
  /** AssumeRole session length; at most 3600 when the connector itself is a role (role chaining). */
  CUSTODY_AWS_SESSION_SECONDS: z.coerce.number().int().min(900).max(43_200).default(3600),
  /** Region of the connector's STS client; default `AWS_REGION`, else us-east-1. */
  CUSTODY_AWS_STS_REGION: z.string().optional(),
  /** The operator's BullMQ dashboard at /admin/queues (operator token only). */
  CUSTODY_QUEUE_DASHBOARD: z.enum(['on', 'off']).default('off'),
  /** The `azure-blob` provider (tenant containers and Key Vault keys through a service principal). */
  CUSTODY_AZURE_PROVIDER: onOff,
  /** Entra ID authority host (sovereign clouds, stand-ins). Unset: the public cloud. */
  AZURE_AUTHORITY_HOST: z.string().url().optional(),
  /** `true` for custom authorities (stand-ins): MSAL skips instance discovery. */
  CUSTODY_AZURE_DISABLE_INSTANCE_DISCOVERY: trueFalse,
  /** `true` only for stand-ins: Key Vault's challenge resource need not match the vault host. */
  CUSTODY_KEYVAULT_DISABLE_CHALLENGE_VERIFICATION: trueFalse,
  /** `custody worker` serves /metrics and /healthz here (the API serves its own on PORT). */
  CUSTODY_WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  CUSTODY_TRANSFER_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(8),
  CUSTODY_RETENTION_INTERVAL_SECONDS: seconds(900),
  CUSTODY_RECONCILE_INTERVAL_SECONDS: seconds(60),
  /** How often the audit head is checkpointed into each tenant's own storage (when it moved). */
  CUSTODY_AUDIT_CHECKPOINT_INTERVAL_SECONDS: seconds(3600),
  /** How often a `blocked` recording is retried on its own (the tenant may have fixed things). */
  CUSTODY_BLOCKED_RETRY_SECONDS: seconds(300),
  /** How often each tenant's key is checked (state, a test wrap); an unhealthy key pauses its transfers. */
  CUSTODY_KEY_HEALTH_INTERVAL_SECONDS: seconds(300),
  /**
   * After a rewrap, re-encryption or migration switches a recording to its new object, the
   * old one is kept this long (a playback that opened it just before can finish), then the
   * reconciler's sweep removes it. 0: removed at once.
   */
  CUSTODY_KEY_JOB_DELETE_GRACE_SECONDS: z.coerce.number().min(0).default(300),
  /** Recordings one rewrap, re-encrypt or migrate job works on at once (within its rate). */
  CUSTODY_KEY_JOB_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  /** Rotation policy: an active storage version's key older than this is reported overdue. */
  CUSTODY_KEY_ROTATION_DAYS: z.coerce.number().positive().default(365),
  /** BullMQ job lock; a crashed worker's job is picked up again after about this long. */
  CUSTODY_JOB_LOCK_MS: z.coerce.number().int().min(1000).default(30_000),
  /** Webhook dispatcher tick in every worker; first retry delay (doubling, capped at 1 h); give-up age. */
  CUSTODY_WEBHOOK_INTERVAL_SECONDS: seconds(5),
  CUSTODY_WEBHOOK_RETRY_BASE_SECONDS: seconds(10),
  CUSTODY_WEBHOOK_GIVE_UP_SECONDS: seconds(86_400),
  /** Direct queue ingest: a directory shared with recorders; off unless set with a key. */
  CUSTODY_INBOX_DIR: z.string().optional(),
  CUSTODY_INBOX_HMAC_KEY: z.string().optional(),
  /** Test-only fault injection: the worker SIGKILLs itself at this named point. Ignored in production. */
  CUSTODY_TEST_CRASH_AT: z.string().optional(),
});

export type Env = z.infer<typeof envSchema>;

/** Names of variables holding secrets: each also accepts `<NAME>_FILE`. */
export const secretVariables = [
  'CUSTODY_ADMIN_TOKEN',
  'CUSTODY_LINK_SIGNING_KEYS',
  'CUSTODY_SECRETS_KEY',
  'CUSTODY_INBOX_HMAC_KEY',
  'DATABASE_URL',
  'REDIS_URL',
] as const;
