import { AssumeRoleCommand, type AssumeRoleCommandOutput, type STSClient } from '@aws-sdk/client-sts';
import { StorageError } from '../errors.js';

/**
 * Temporary credentials for one tenant's role. Structurally an `AwsCredentialIdentity`
 * (`@smithy/types`), so a {@link TenantCredentialProvider} can be passed as `credentials`
 * to any AWS SDK v3 client.
 */
export interface TenantCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

/** Structurally an `AwsCredentialIdentityProvider`. */
export type TenantCredentialProvider = () => Promise<TenantCredentials>;

export interface AssumedRoleCredentialsOptions {
  /** The connector's own identity (default chain), built by the caller. */
  sts: STSClient;
  /** Session length asked of STS, 900..43200 s. Default 3600. */
  durationSeconds?: number;
  /** Refresh when the cached session expires within this many ms. Default 5 min. */
  refreshBeforeMs?: number;
  /** Clock, for tests. Default `Date.now`. */
  now?: () => number;
}

export interface TenantRole {
  tenantId: string;
  /** `arn:aws:iam::<account>:role/<name>` in the tenant's account. */
  roleArn: string;
  /** Mandatory: the tenant's trust policy must require it (confused-deputy guard). */
  externalId: string;
  /**
   * The tenant's bucket region. Informational: the STS endpoint is the one of the
   * `sts` client given to the constructor (which honours `AWS_ENDPOINT_URL_STS`).
   */
  region?: string;
}

interface CacheEntry {
  credentials?: TenantCredentials;
  inflight?: Promise<TenantCredentials>;
}

const DEFAULT_DURATION_SECONDS = 3600;
const DEFAULT_REFRESH_BEFORE_MS = 5 * 60_000;
/** A session closer than this to expiry is not used as a fallback when a refresh fails. */
const MIN_REMAINING_MS = 60_000;
export const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;

/** `custody-<tenantId>`, reduced to what STS accepts: [\w+=,.@-], at most 64 characters. */
export function roleSessionName(tenantId: string): string {
  return `custody-${tenantId}`.replace(/[^\w+=,.@-]/g, '-').slice(0, 64);
}

/**
 * Credentials for tenants' own buckets, obtained by `sts:AssumeRole` into a role the
 * tenant created, with the tenant's ExternalId.
 *
 * One session is cached per tenantId + roleArn + externalId and refreshed when it is
 * within `refreshBeforeMs` of expiry; concurrent callers share one in-flight AssumeRole,
 * so a burst of recordings costs one STS call. A failed AssumeRole is not cached: the
 * next call tries again.
 *
 * Role chaining: when the connector's own identity is itself an assumed role (e.g. EKS
 * IRSA / pod identity, or an instance role used through AssumeRole), AWS caps the chained
 * session at 1 hour whatever `durationSeconds` or the role's MaxSessionDuration say; asking
 * for more fails. Keep `durationSeconds` at 3600 or less in that set-up.
 */
export class AssumedRoleCredentials {
  private readonly sts: STSClient;
  private readonly durationSeconds: number;
  private readonly refreshBeforeMs: number;
  private readonly now: () => number;
  private readonly cache = new Map<string, CacheEntry>();

  constructor(options: AssumedRoleCredentialsOptions) {
    this.sts = options.sts;
    this.durationSeconds = options.durationSeconds ?? DEFAULT_DURATION_SECONDS;
    this.refreshBeforeMs = options.refreshBeforeMs ?? DEFAULT_REFRESH_BEFORE_MS;
    this.now = options.now ?? Date.now;
    if (
      !Number.isInteger(this.durationSeconds) ||
      this.durationSeconds < 900 ||
      this.durationSeconds > 43_200
    ) {
      throw new RangeError('durationSeconds must be an integer between 900 and 43200');
    }
    if (this.refreshBeforeMs < 0 || this.refreshBeforeMs >= this.durationSeconds * 1000) {
      throw new RangeError('refreshBeforeMs must be >= 0 and shorter than the session');
    }
  }

  /** A provider for `credentials` of any AWS SDK v3 client acting in the tenant's account. */
  forTenant(role: TenantRole): TenantCredentialProvider {
    const { tenantId, roleArn, externalId } = role;
    if (!tenantId) throw new StorageError('access-denied', 'InvalidTenant', 'tenantId is required');
    if (!ROLE_ARN.test(roleArn)) {
      throw new StorageError('access-denied', 'InvalidRoleArn', `"${roleArn}" is not an IAM role ARN`);
    }
    if (!externalId) {
      throw new StorageError(
        'access-denied',
        'ExternalIdRequired',
        `an ExternalId is required for ${roleArn}`,
      );
    }
    if (!EXTERNAL_ID.test(externalId)) {
      throw new StorageError(
        'access-denied',
        'InvalidExternalId',
        `the ExternalId for ${roleArn} must be 2-1224 characters of [\\w+=,.@:/-]`,
      );
    }
    const key = JSON.stringify([tenantId, roleArn, externalId]);
    return () => this.get(key, role);
  }

  /**
   * AssumeRole now, whatever is cached, and cache the result: the registration handshake
   * must prove the trust policy as it is *now* (the tenant may just have changed it).
   */
  async assumeNow(role: TenantRole): Promise<TenantCredentials> {
    this.forTenant(role); // validates the role as forTenant does
    const entry = this.#entry(JSON.stringify([role.tenantId, role.roleArn, role.externalId]));
    const credentials = await this.assume(role);
    entry.credentials = credentials;
    return credentials;
  }

  /** Drop every cached session (e.g. after a tenant rotates its ExternalId). */
  clear(): void {
    this.cache.clear();
  }

  #entry(key: string): CacheEntry {
    let entry = this.cache.get(key);
    if (!entry) {
      entry = {};
      this.cache.set(key, entry);
    }
    return entry;
  }

  private get(key: string, role: TenantRole): Promise<TenantCredentials> {
    const entry = this.#entry(key);
    const cached = entry.credentials;
    if (cached && this.now() < cached.expiration.getTime() - this.refreshBeforeMs) {
      return Promise.resolve(cached);
    }
    if (entry.inflight) return entry.inflight;
    const current = entry;
    const inflight = this.assume(role).then(
      (credentials) => {
        current.credentials = credentials;
        current.inflight = undefined;
        return credentials;
      },
      (err: unknown) => {
        current.inflight = undefined;
        // STS throttled or unreachable while the session still has a minute or more: keep
        // using it (the next call retries the refresh). A denial is final: the tenant
        // revoked trust, and we stop at once rather than ride out the old session.
        const still = current.credentials;
        const transient = err instanceof StorageError && err.kind === 'transient';
        if (transient && still && this.now() < still.expiration.getTime() - MIN_REMAINING_MS) return still;
        throw err;
      },
    );
    current.inflight = inflight;
    return inflight;
  }

  private async assume(role: TenantRole): Promise<TenantCredentials> {
    let out: AssumeRoleCommandOutput;
    try {
      out = await this.sts.send(
        new AssumeRoleCommand({
          RoleArn: role.roleArn,
          ExternalId: role.externalId,
          RoleSessionName: roleSessionName(role.tenantId),
          DurationSeconds: this.durationSeconds,
        }),
      );
    } catch (err) {
      throw mapStsError(err, role.roleArn);
    }
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration) {
      throw new StorageError(
        'transient',
        'InvalidStsResponse',
        `AssumeRole into ${role.roleArn} returned no credentials`,
      );
    }
    return {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      sessionToken: c.SessionToken,
      expiration: new Date(c.Expiration),
    };
  }
}

function mapStsError(err: unknown, roleArn: string): StorageError {
  const e = err as { name?: unknown; $metadata?: { httpStatusCode?: number } } | undefined;
  const name = typeof e?.name === 'string' && e.name !== '' ? e.name : 'Error';
  if (name === 'AccessDenied' || name === 'AccessDeniedException' || e?.$metadata?.httpStatusCode === 403) {
    return new StorageError(
      'access-denied',
      'AccessDenied',
      `AssumeRole into ${roleArn} was denied: check the trust policy and ExternalId`,
      { cause: err },
    );
  }
  // RegionDisabledException, ExpiredTokenException, throttling, network errors, ...
  return new StorageError('transient', name, `AssumeRole into ${roleArn} failed (${name})`, { cause: err });
}
