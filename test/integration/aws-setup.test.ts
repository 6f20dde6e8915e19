import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { iamActionsByStatement } from '../../src/aws/api-calls.js';
import { insertStorageVersion } from '../../src/db/storage-versions.js';
import { setActiveStorageVersion } from '../../src/db/tenants.js';
import { api, createKey, setupTenant } from '../support/client.js';
import { type Harness, startHarness } from '../support/harness.js';
import { expectProblem } from './contract-helpers.js';

/** GET /v1/tenants/{t}/storage/aws-setup: filled from the query, else the active s3 storage. */
const CONNECTOR = 'arn:aws:iam::999999999999:role/custody-connector';
const KEY = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const ROLE = 'arn:aws:iam::111122223333:role/custody-writer';
const SLOT = '$' + '{';
const UNFILLED = ['BucketName', 'KmsKeyArn', 'Partition', 'Prefix', 'RoleArn'];
const FULL_QUERY = `?bucket=acme-recordings&prefix=tenants/acme&kmsKeyArn=${encodeURIComponent(KEY)}&roleArn=${encodeURIComponent(ROLE)}`;

interface Statement {
  Sid: string;
  Action: string | string[];
  Resource: string;
}
const statement = (policy: { Statement: Statement[] }, sid: string) =>
  policy.Statement.find((st) => st.Sid === sid);
const actionsOf = (policy: { Statement: Statement[] }) => policy.Statement.flatMap((st) => st.Action).sort();
/** The permissions policy's actions, as declared for the calls Custody makes (KMS and S3). */
const declaredActions = (objectLock: boolean) => {
  const { trust: _t, ...rest } = iamActionsByStatement(undefined, { objectLock });
  return Object.values(rest).flat().sort();
};

let h: Harness;
const setupOf = (tenant: string, query = '', token?: string) =>
  api(h, 'GET', `/v1/tenants/${tenant}/storage/aws-setup${query}`, token ? { token } : {});

beforeAll(async () => {
  h = await startHarness({ workers: false, env: { CUSTODY_AWS_CONNECTOR_PRINCIPAL: CONNECTOR } });
  const created = await api(h, 'POST', '/v1/tenants', {
    json: { id: 'bare', name: 'bare', retention: 'P30D' },
  });
  expect(created.status).toBe(201);
});
afterAll(() => h?.close());

describe('aws-setup', () => {
  it('without values or s3 storage: placeholders stay and `missing` names them', async () => {
    const r = await setupOf('bare');
    expect(r.status, r.bytes.toString()).toBe(200);
    expect(r.body.connectorPrincipal).toBe(CONNECTOR);
    expect(r.body.missing).toEqual(UNFILLED);
    const left = [...r.bytes.toString().matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]);
    expect([...new Set(left)].sort()).toEqual(UNFILLED);
    expect(r.body.trustPolicy.Statement[0].Condition.StringEquals['sts:ExternalId']).toBe(r.body.externalId);
    expect(r.body.steps.some((s: string) => s.includes('?bucket='))).toBe(true);
  });

  it('fills every document from the query, for the operator and for a tenant admin key', async () => {
    const { key } = await setupTenant(h, 'local-one'); // local storage: nothing to take from it
    for (const token of [undefined, await createKey(h, 'local-one', ['tenant:admin']), key]) {
      const r = await setupOf('local-one', FULL_QUERY, token);
      expect(r.status, r.bytes.toString()).toBe(200);
      expect(r.bytes.toString()).not.toContain(SLOT);
      expect(r.body.missing).toEqual([]);
      expect(actionsOf(r.body.permissionsPolicy)).toEqual(declaredActions(false));
      const [objects, listing, dataKeys] = r.body.permissionsPolicy.Statement;
      expect(objects.Resource).toBe('arn:aws:s3:::acme-recordings/tenants/acme/*');
      expect(listing.Condition.StringLike['s3:prefix']).toBe('tenants/acme/*');
      expect(dataKeys.Resource).toBe(KEY);
      expect(dataKeys.Condition.StringEquals['kms:EncryptionContext:custody:tenant']).toBe('local-one');
      expect(r.body.keyPolicyStatement[0].Principal.AWS).toBe(ROLE);
    }
    const local = await setupOf('local-one');
    expect(local.body.missing).toEqual(UNFILLED);
  });

  it('takes the values of the active s3 storage; the query overrides them', async () => {
    await api(h, 'POST', '/v1/tenants', { json: { id: 's3-one', name: 's3-one', retention: 'P30D' } });
    // Written directly: registering s3 for real needs the whole AWS stand-in.
    const v = await insertStorageVersion(h.ctx.db, {
      tenantId: 's3-one',
      version: 1,
      provider: 's3',
      config: {
        bucket: 'stored-bucket',
        region: 'eu-west-1',
        prefix: 'calls',
        roleArn: ROLE,
        kmsKeyArn: KEY,
      },
      secretCiphertext: null,
      keyId: KEY,
      handshake: { ok: true, steps: [] },
    });
    await setActiveStorageVersion(h.ctx.db, 's3-one', v.version);
    const stored = await setupOf('s3-one');
    expect(stored.status).toBe(200);
    expect(stored.body.missing).toEqual([]);
    expect(stored.body.permissionsPolicy.Statement[0].Resource).toBe('arn:aws:s3:::stored-bucket/calls/*');
    // No objectLock in the stored config: the default policy, without the Object Lock actions.
    expect(actionsOf(stored.body.permissionsPolicy)).toEqual(declaredActions(false));
    const overridden = await setupOf('s3-one', '?bucket=other-bucket&prefix=');
    expect(overridden.body.permissionsPolicy.Statement[0].Resource).toBe('arn:aws:s3:::other-bucket/*');
    expect(overridden.body.keyPolicyStatement[0].Principal.AWS).toBe(ROLE);
  });

  it('with ?objectLock, the permissions policy also grants the Object Lock calls', async () => {
    await setupTenant(h, 'local-worm');
    for (const mode of ['GOVERNANCE', 'COMPLIANCE']) {
      const r = await setupOf('local-worm', `${FULL_QUERY}&objectLock=${mode}`);
      expect(r.status, r.bytes.toString()).toBe(200);
      expect(r.body.missing).toEqual([]);
      const policy = r.body.permissionsPolicy;
      expect(actionsOf(policy)).toEqual(declaredActions(true));
      // A bucket action of its own: the s3:prefix condition of the listing does not apply to it.
      expect(statement(policy, 'CustodyBucketObjectLockConfiguration')).toEqual({
        Sid: 'CustodyBucketObjectLockConfiguration',
        Effect: 'Allow',
        Action: 's3:GetBucketObjectLockConfiguration',
        Resource: 'arn:aws:s3:::acme-recordings',
      });
      expect(statement(policy, 'CustodyRecordingObjects')?.Resource).toBe(
        'arn:aws:s3:::acme-recordings/tenants/acme/*',
      );
      expect(r.body.steps.join('\n')).toContain(`"objectLock":{"mode":"${mode}"}`);
    }
    const plain = await setupOf('local-worm', FULL_QUERY);
    expect(actionsOf(plain.body.permissionsPolicy)).toEqual(declaredActions(false));
    expect(statement(plain.body.permissionsPolicy, 'CustodyBucketObjectLockConfiguration')).toBeUndefined();
  });

  it('grants the Object Lock calls when the active s3 storage has objectLock', async () => {
    await api(h, 'POST', '/v1/tenants', { json: { id: 's3-worm', name: 's3-worm', retention: 'P30D' } });
    const v = await insertStorageVersion(h.ctx.db, {
      tenantId: 's3-worm',
      version: 1,
      provider: 's3',
      config: {
        bucket: 'worm-bucket',
        region: 'eu-west-1',
        prefix: 'calls',
        roleArn: ROLE,
        kmsKeyArn: KEY,
        objectLock: { mode: 'COMPLIANCE' },
      },
      secretCiphertext: null,
      keyId: KEY,
      handshake: { ok: true, steps: [] },
    });
    await setActiveStorageVersion(h.ctx.db, 's3-worm', v.version);
    const stored = await setupOf('s3-worm');
    expect(stored.status, stored.bytes.toString()).toBe(200);
    expect(stored.body.missing).toEqual([]);
    expect(actionsOf(stored.body.permissionsPolicy)).toEqual(declaredActions(true));
    expect(statement(stored.body.permissionsPolicy, 'CustodyBucketObjectLockConfiguration')?.Resource).toBe(
      'arn:aws:s3:::worm-bucket',
    );
    expect(stored.body.steps.join('\n')).toContain('"objectLock":{"mode":"COMPLIANCE"}');
  });

  it('documents its query parameters in /openapi.json', async () => {
    const doc = await api(h, 'GET', '/openapi.json', { token: null });
    const op = doc.body.paths['/v1/tenants/{tenantId}/storage/aws-setup'].get;
    const query = op.parameters.filter((p: { in: string }) => p.in === 'query');
    expect(query.map((p: { name: string }) => p.name).sort()).toEqual([
      'bucket',
      'kmsKeyArn',
      'objectLock',
      'prefix',
      'roleArn',
    ]);
    expect(query.every((p: { required: boolean }) => !p.required)).toBe(true);
  });

  it.each([
    ['an alias for kmsKeyArn', `?kmsKeyArn=${encodeURIComponent('alias/recordings')}`],
    ['a key ARN with a wildcard', `?kmsKeyArn=${encodeURIComponent(`${KEY.slice(0, -4)}*`)}`],
    ['an invalid bucket', '?bucket=Not_A_Bucket'],
    ['a prefix with a wildcard', '?prefix=tenants/*'],
    ['a prefix with a leading slash', '?prefix=/tenants'],
    ['a user ARN for roleArn', `?roleArn=${encodeURIComponent('arn:aws:iam::111122223333:user/x')}`],
    ['an unknown parameter', '?kmsKeyARN=x'],
    ['a repeated parameter', '?bucket=abc&bucket=abd'],
    ['a lower-case Object Lock mode', '?objectLock=governance'],
    ['an unknown Object Lock mode', '?objectLock=NONE'],
    ['an empty Object Lock mode', '?objectLock='],
  ])('answers 400 for %s', async (_what, query) => {
    expectProblem(await setupOf('bare', query), 400, 'VALIDATION_FAILED');
  });
});
