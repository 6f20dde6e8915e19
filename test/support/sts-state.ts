import { randomBytes, randomUUID } from 'node:crypto';

/**
 * The fake STS, with no transport: tenants' roles (trust policy = ExternalId), the
 * sessions AssumeRole issued, and the query-protocol XML replies.
 */

export interface StandInRole {
  roleArn: string;
  /** The trust policy's `sts:ExternalId` condition. */
  externalId: string;
  /** What `kms:EncryptionContext:custody:tenant` must equal for this role's sessions. */
  tenantId: string;
}

export interface StsSession {
  role: StandInRole;
  accessKeyId: string;
  sessionName: string;
  expiration: Date;
}

export interface AssumeRoleInput {
  roleArn: string | undefined;
  externalId: string | undefined;
  roleSessionName: string | undefined;
  durationSeconds: number;
}

/** An error STS returns: HTTP status, `<Type>` and `<Code>` as AWS sends them. */
export class StsFault extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** s3rver accepts only this access key id (it checks no signatures), so sessions use it. */
export const SESSION_ACCESS_KEY_ID = 'S3RVER';
const XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';
const DEFAULT_DURATION_SECONDS = 3600;

const xml = (s: string) =>
  s.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!,
  );

export function parseAssumeRole(form: URLSearchParams): AssumeRoleInput {
  const duration = form.get('DurationSeconds');
  return {
    roleArn: form.get('RoleArn') ?? undefined,
    externalId: form.get('ExternalId') ?? undefined,
    roleSessionName: form.get('RoleSessionName') ?? undefined,
    durationSeconds: duration === null ? DEFAULT_DURATION_SECONDS : Number(duration),
  };
}

export function stsErrorXml(code: string, message: string, status: number): string {
  // Real STS: Sender for the caller's mistakes, Receiver for its own failures.
  const type = status >= 500 ? 'Receiver' : 'Sender';
  return `<ErrorResponse xmlns="${XMLNS}">
  <Error><Type>${type}</Type><Code>${xml(code)}</Code><Message>${xml(message)}</Message></Error>
  <RequestId>${randomUUID()}</RequestId>
</ErrorResponse>`;
}

export class StsState {
  readonly #roles = new Map<string, StandInRole>();
  readonly #denied = new Set<string>();
  readonly #sessions = new Map<string, StsSession>();

  constructor(private readonly now: () => number = Date.now) {}

  addRole(role: StandInRole): void {
    this.#roles.set(role.roleArn, { ...role });
  }

  /** The trust policy now refuses everyone (sessions already issued stay valid, as in AWS). */
  denyRole(roleArn: string): void {
    this.#denied.add(roleArn);
  }

  allowRole(roleArn: string): void {
    this.#denied.delete(roleArn);
  }

  /** The session a token belongs to, whether or not it has expired. */
  session(token: string): StsSession | undefined {
    return this.#sessions.get(token);
  }

  isExpired(session: StsSession): boolean {
    return this.now() >= session.expiration.getTime();
  }

  /** Makes every session issued so far expired (to test refresh and ExpiredToken paths). */
  expireSessions(): void {
    for (const s of this.#sessions.values()) s.expiration = new Date(this.now() - 1);
  }

  /** Checks the request like the trust policy would, then issues a session; returns the XML reply. */
  assumeRole(input: AssumeRoleInput, callerArn: string): string {
    const { roleArn, externalId, roleSessionName, durationSeconds } = input;
    if (!roleArn || !roleSessionName) {
      throw new StsFault('ValidationError', 'RoleArn and RoleSessionName are required');
    }
    if (!Number.isInteger(durationSeconds) || durationSeconds < 900 || durationSeconds > 43_200) {
      throw new StsFault(
        'ValidationError',
        `1 validation error detected: Value '${durationSeconds}' at 'durationSeconds' failed to satisfy constraint`,
      );
    }
    const role = this.#roles.get(roleArn);
    if (!role || this.#denied.has(roleArn) || externalId !== role.externalId) {
      // Real STS does not say which of these it was: the trust policy just did not match.
      throw new StsFault(
        'AccessDenied',
        `User: ${callerArn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
        403,
      );
    }
    const token = `standin-session-${randomBytes(24).toString('base64url')}`;
    const session: StsSession = {
      role,
      accessKeyId: SESSION_ACCESS_KEY_ID,
      sessionName: roleSessionName,
      expiration: new Date(this.now() + durationSeconds * 1000),
    };
    this.#sessions.set(token, session);
    return `<AssumeRoleResponse xmlns="${XMLNS}">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>${SESSION_ACCESS_KEY_ID}</AccessKeyId>
      <SecretAccessKey>${randomBytes(30).toString('base64')}</SecretAccessKey>
      <SessionToken>${token}</SessionToken>
      <Expiration>${session.expiration.toISOString()}</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <AssumedRoleId>AROA${randomBytes(8).toString('hex').toUpperCase()}:${xml(roleSessionName)}</AssumedRoleId>
      <Arn>${xml(assumedRoleArn(session))}</Arn>
    </AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata>
</AssumeRoleResponse>`;
  }
}

/** `arn:aws:sts::<account>:assumed-role/<role name>/<session name>`, as AWS names the caller. */
export function assumedRoleArn(session: StsSession): string {
  const m = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(session.role.roleArn);
  const [partition, account, name] = m ? [m[1], m[2], m[3]] : ['aws', '000000000000', 'unknown'];
  return `arn:${partition}:sts::${account}:assumed-role/${name}/${session.sessionName}`;
}
