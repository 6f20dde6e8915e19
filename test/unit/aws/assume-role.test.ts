import { S3Client } from '@aws-sdk/client-s3';
import { STSClient } from '@aws-sdk/client-sts';
import nock from 'nock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AssumedRoleCredentials, roleSessionName } from '../../../src/aws/assume-role.js';
import { StorageError } from '../../../src/errors.js';

const STS = 'https://sts.us-east-1.amazonaws.com';
const ROLE_A = 'arn:aws:iam::111111111111:role/custody-writer';
const ROLE_B = 'arn:aws:iam::222222222222:role/custody-writer';
const T0 = Date.parse('2030-01-01T00:00:00Z');
const HOUR = 3_600_000;

interface StsCall {
  roleArn: string | null;
  externalId: string | null;
  sessionName: string | null;
  duration: string | null;
}

const ACCESS_DENIED_XML = `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>AccessDenied</Code>
  <Message>User: arn:aws:iam::999999999999:user/connector is not authorized to perform: sts:AssumeRole</Message></Error>
  <RequestId>req-denied</RequestId>
</ErrorResponse>`;

const REGION_DISABLED_XML = `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>RegionDisabledException</Code>
  <Message>STS is not activated in this region</Message></Error>
  <RequestId>req-region</RequestId>
</ErrorResponse>`;

/**
 * A stand-in for STS that keeps state: it records every AssumeRole, checks the form,
 * and issues distinct credentials valid for one hour from the fake clock.
 */
class FakeSts {
  readonly calls: StsCall[] = [];
  /** Replies to use before falling back to success, in order. */
  failures: Array<[number, string]> = [];
  constructor(private readonly clock: { now: number }) {}

  install(): void {
    nock(STS)
      .persist()
      .post('/')
      .reply((_uri, body) => {
        const form = new URLSearchParams(typeof body === 'string' ? body : '');
        if (form.get('Action') !== 'AssumeRole') return [400, 'unexpected action'];
        const call: StsCall = {
          roleArn: form.get('RoleArn'),
          externalId: form.get('ExternalId'),
          sessionName: form.get('RoleSessionName'),
          duration: form.get('DurationSeconds'),
        };
        this.calls.push(call);
        const failure = this.failures.shift();
        if (failure) return [failure[0], failure[1], { 'Content-Type': 'text/xml' }];
        if (!call.externalId || !call.sessionName) return [400, 'missing ExternalId or RoleSessionName'];
        const n = this.calls.length;
        const expiration = new Date(this.clock.now + HOUR).toISOString();
        return [
          200,
          `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>ASIA${n}</AccessKeyId>
      <SecretAccessKey>secret-${n}</SecretAccessKey>
      <SessionToken>token-${n}</SessionToken>
      <Expiration>${expiration}</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <AssumedRoleId>AROA:${call.sessionName}</AssumedRoleId>
      <Arn>${call.roleArn}/${call.sessionName}</Arn>
    </AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>req-${n}</RequestId></ResponseMetadata>
</AssumeRoleResponse>`,
          { 'Content-Type': 'text/xml' },
        ];
      });
  }
}

describe('AssumedRoleCredentials', () => {
  let clock: { now: number };
  let fake: FakeSts;
  let sts: STSClient;
  let creds: AssumedRoleCredentials;

  beforeAll(() => {
    nock.disableNetConnect();
    nock.enableNetConnect(/^(127\.0\.0\.1|localhost)(:\d+)?$/);
  });
  afterAll(() => {
    nock.cleanAll();
    nock.enableNetConnect();
  });

  beforeEach(() => {
    clock = { now: T0 };
    fake = new FakeSts(clock);
    fake.install();
    sts = new STSClient({
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIACONNECTOR', secretAccessKey: 'connector-secret' },
      maxAttempts: 1,
    });
    creds = new AssumedRoleCredentials({ sts, now: () => clock.now });
  });
  afterEach(() => {
    nock.cleanAll();
    sts.destroy();
  });

  it('returns credentials from AssumeRole with ExternalId, session name and duration', async () => {
    const provider = creds.forTenant({ tenantId: 'acme', roleArn: ROLE_A, externalId: 'ext-acme-1234' });
    const c = await provider();
    expect(c).toEqual({
      accessKeyId: 'ASIA1',
      secretAccessKey: 'secret-1',
      sessionToken: 'token-1',
      expiration: new Date(T0 + HOUR),
    });
    expect(fake.calls).toEqual([
      { roleArn: ROLE_A, externalId: 'ext-acme-1234', sessionName: 'custody-acme', duration: '3600' },
    ]);
    // Usable as `credentials` of any SDK v3 client (checked by tsc).
    const s3 = new S3Client({ region: 'eu-west-1', credentials: provider });
    s3.destroy();
  });

  it('shares one in-flight AssumeRole among 20 concurrent callers', async () => {
    const provider = creds.forTenant({ tenantId: 'acme', roleArn: ROLE_A, externalId: 'ext-acme-1234' });
    const all = await Promise.all(Array.from({ length: 20 }, () => provider()));
    expect(fake.calls).toHaveLength(1);
    expect(new Set(all.map((c) => c.accessKeyId))).toEqual(new Set(['ASIA1']));
  });

  it('serves from the cache before expiry, also to a new provider for the same tenant', async () => {
    const role = { tenantId: 'acme', roleArn: ROLE_A, externalId: 'ext-acme-1234' };
    await creds.forTenant(role)();
    clock.now = T0 + HOUR - 5 * 60_000 - 1;
    const again = await creds.forTenant(role)();
    expect(again.accessKeyId).toBe('ASIA1');
    expect(fake.calls).toHaveLength(1);
  });

  it('refreshes exactly once when within refreshBeforeMs of expiry', async () => {
    const provider = creds.forTenant({ tenantId: 'acme', roleArn: ROLE_A, externalId: 'ext-acme-1234' });
    await provider();
    clock.now = T0 + HOUR - 5 * 60_000;
    const refreshed = await Promise.all(Array.from({ length: 10 }, () => provider()));
    expect(fake.calls).toHaveLength(2);
    expect(refreshed.every((c) => c.accessKeyId === 'ASIA2')).toBe(true);
    expect(refreshed[0]!.expiration.getTime()).toBe(clock.now + HOUR);
    await provider();
    expect(fake.calls).toHaveLength(2);
  });

  it('keeps using a still-valid session when a refresh fails transiently, not when it is denied', async () => {
    const provider = creds.forTenant({ tenantId: 'acme', roleArn: ROLE_A, externalId: 'ext-acme-1234' });
    await provider();
    clock.now = T0 + HOUR - 4 * 60_000;
    fake.failures.push([400, REGION_DISABLED_XML]);
    expect((await provider()).accessKeyId).toBe('ASIA1');
    // The next call tries the refresh again, and it succeeds.
    expect((await provider()).accessKeyId).toBe('ASIA3');
    expect(fake.calls).toHaveLength(3);

    clock.now += HOUR - 4 * 60_000;
    fake.failures.push([403, ACCESS_DENIED_XML]);
    await expect(provider()).rejects.toMatchObject({ kind: 'access-denied', code: 'AccessDenied' });
  });

  it('does not fall back to a session within a minute of expiry', async () => {
    const provider = creds.forTenant({ tenantId: 'acme', roleArn: ROLE_A, externalId: 'ext-acme-1234' });
    await provider();
    clock.now = T0 + HOUR - 30_000;
    fake.failures.push([400, REGION_DISABLED_XML]);
    await expect(provider()).rejects.toMatchObject({ kind: 'transient', code: 'RegionDisabledException' });
  });

  it('assumeNow calls STS even with a cached session, and caches what it gets', async () => {
    const role = { tenantId: 'acme', roleArn: ROLE_A, externalId: 'ext-acme-1234' };
    await creds.forTenant(role)();
    expect((await creds.assumeNow(role)).accessKeyId).toBe('ASIA2');
    expect((await creds.forTenant(role)()).accessKeyId).toBe('ASIA2');
    expect(fake.calls).toHaveLength(2);
    fake.failures.push([403, ACCESS_DENIED_XML]);
    await expect(creds.assumeNow(role)).rejects.toMatchObject({ code: 'AccessDenied' });
  });

  it('keeps tenants (and roles) apart', async () => {
    const [a, b, a2] = await Promise.all([
      creds.forTenant({ tenantId: 'acme', roleArn: ROLE_A, externalId: 'ext-acme-1234' })(),
      creds.forTenant({ tenantId: 'globex', roleArn: ROLE_B, externalId: 'ext-globex-5678' })(),
      creds.forTenant({ tenantId: 'acme', roleArn: ROLE_A, externalId: 'ext-acme-1234' })(),
    ]);
    expect(fake.calls).toHaveLength(2);
    expect(a!.accessKeyId).toBe(a2!.accessKeyId);
    expect(a!.accessKeyId).not.toBe(b!.accessKeyId);
    expect(fake.calls.map((c) => [c.roleArn, c.externalId, c.sessionName]).sort()).toEqual([
      [ROLE_A, 'ext-acme-1234', 'custody-acme'],
      [ROLE_B, 'ext-globex-5678', 'custody-globex'],
    ]);
  });

  it('maps 403 AccessDenied to StorageError access-denied without echoing the XML', async () => {
    fake.failures.push([403, ACCESS_DENIED_XML]);
    const provider = creds.forTenant({ tenantId: 'acme', roleArn: ROLE_A, externalId: 'ext-acme-1234' });
    const err = await provider().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    const se = err as StorageError;
    expect(se.kind).toBe('access-denied');
    expect(se.code).toBe('AccessDenied');
    expect(se.message).toBe(`AssumeRole into ${ROLE_A} was denied: check the trust policy and ExternalId`);
    expect(se.message).not.toMatch(/<|ErrorResponse|not authorized/);
  });

  it('maps RegionDisabledException to a transient StorageError', async () => {
    fake.failures.push([400, REGION_DISABLED_XML]);
    const provider = creds.forTenant({ tenantId: 'acme', roleArn: ROLE_A, externalId: 'ext-acme-1234' });
    const err = (await provider().catch((e: unknown) => e)) as StorageError;
    expect(err).toBeInstanceOf(StorageError);
    expect(err.kind).toBe('transient');
    expect(err.code).toBe('RegionDisabledException');
    expect(err.message).not.toContain('<');
  });

  it('does not cache a failure: the next call tries again and succeeds', async () => {
    fake.failures.push([403, ACCESS_DENIED_XML]);
    const provider = creds.forTenant({ tenantId: 'acme', roleArn: ROLE_A, externalId: 'ext-acme-1234' });
    const failed = await Promise.allSettled([provider(), provider(), provider()]);
    expect(failed.every((r) => r.status === 'rejected')).toBe(true);
    expect(fake.calls).toHaveLength(1);
    const c = await provider();
    expect(c.accessKeyId).toBe('ASIA2');
    expect(fake.calls).toHaveLength(2);
  });

  it('rejects an empty ExternalId before any STS call', () => {
    expect(() => creds.forTenant({ tenantId: 'acme', roleArn: ROLE_A, externalId: '' })).toThrow(
      StorageError,
    );
    expect(() => creds.forTenant({ tenantId: 'acme', roleArn: 'not-an-arn', externalId: 'ext-1' })).toThrow(
      StorageError,
    );
    expect(fake.calls).toHaveLength(0);
  });

  it('builds a valid RoleSessionName from any tenant id', () => {
    expect(roleSessionName('acme')).toBe('custody-acme');
    const odd = roleSessionName(`tenant with spaces/and:colons ${'x'.repeat(100)}`);
    expect(odd.length).toBeLessThanOrEqual(64);
    expect(odd).toMatch(/^[\w+=,.@-]+$/);
  });

  it('validates durationSeconds and refreshBeforeMs', () => {
    expect(() => new AssumedRoleCredentials({ sts, durationSeconds: 600 })).toThrow(RangeError);
    expect(() => new AssumedRoleCredentials({ sts, durationSeconds: 900, refreshBeforeMs: 900_000 })).toThrow(
      RangeError,
    );
  });
});
