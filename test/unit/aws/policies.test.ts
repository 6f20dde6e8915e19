import { describe, expect, it } from 'vitest';
import { AWS_API_CALLS, type AwsApiCall, iamActionsByStatement } from '../../../src/aws/api-calls.js';
import {
  awsSetup,
  bucketName,
  keyPrefix,
  kmsKeyArn,
  objectLockMode,
  roleArn,
} from '../../../src/domain/storage/aws-setup.js';
import { objectKeyFor } from '../../../src/storage/object-key.js';
import { S3StorageTarget } from '../../../src/storage/s3/index.js';
import {
  actionMismatches,
  collect,
  iamPattern,
  list,
  STATEMENT_OF_SID,
  type Statement,
} from './policy-helpers.js';

const KEY = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const ROLE = 'arn:aws:iam::111122223333:role/custody-writer';
const CONNECTOR = 'arn:aws:iam::999999999999:role/custody-connector';
const full = {
  tenantId: 'acme',
  externalId: 'ext-acme-0123456789',
  connectorPrincipal: CONNECTOR,
  bucket: 'acme-recordings',
  prefix: 'tenants/acme',
  kmsKeyArn: KEY,
  roleArn: ROLE,
};
const SLOT = '$' + '{';

const statementsOf = (setup: ReturnType<typeof awsSetup>) => ({
  trust: (setup.trustPolicy as { Statement: Statement[] }).Statement,
  permissions: (setup.permissionsPolicy as { Statement: Statement[] }).Statement,
  key: setup.keyPolicyStatement as Statement[],
});

describe('policy actions equal the IAM actions of the declared AWS calls', () => {
  const derived = iamActionsByStatement();
  const { trust, permissions, key } = statementsOf(awsSetup(full));
  const { trust: t, ...s3AndKms } = derived;
  const { 's3-objects': _o, 's3-bucket': _b, ...kmsOnly } = s3AndKms;

  it('derives what the code calls', () => {
    expect(derived).toEqual({
      trust: ['sts:AssumeRole'],
      's3-objects': ['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:PutObject'],
      's3-bucket': ['s3:ListBucket'],
      'kms-tenant-context': ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
      'kms-no-context': ['kms:DescribeKey'],
    });
  });

  it('trust, permissions and key policy grant exactly those actions', () => {
    expect(actionMismatches(trust, { trust: t })).toEqual([]);
    expect(actionMismatches(permissions, s3AndKms)).toEqual([]);
    expect(actionMismatches(key, kmsOnly)).toEqual([]);
  });

  it('fails on a missing or an extra action', () => {
    const extra: AwsApiCall = {
      service: 's3',
      operation: 'PutObjectTagging',
      iamAction: 's3:PutObjectTagging',
      statement: 's3-objects',
      why: 'test',
    };
    const { trust: _t, ...withExtra } = iamActionsByStatement([...AWS_API_CALLS, extra]);
    expect(actionMismatches(permissions, withExtra)).toContain(
      'CustodyRecordingObjects: missing s3:PutObjectTagging',
    );
    const withoutDelete = iamActionsByStatement(AWS_API_CALLS.filter((c) => c.operation !== 'DeleteObject'));
    const { trust: _u, ...rest } = withoutDelete;
    expect(actionMismatches(permissions, rest)).toContain('CustodyRecordingObjects: extra s3:DeleteObject');
  });

  it('trust policy: the connector principal, sts:AssumeRole, only with the ExternalId', () => {
    expect(trust).toEqual([
      {
        Sid: 'CustodyConnectorAssumeRole',
        Effect: 'Allow',
        Principal: { AWS: CONNECTOR },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'sts:ExternalId': full.externalId } },
      },
    ]);
  });

  it('KMS data-key use is bound to the tenant’s encryption context; DescribeKey has no condition', () => {
    const tenantCondition = { StringEquals: { 'kms:EncryptionContext:custody:tenant': 'acme' } };
    for (const st of [...permissions, ...key]) {
      if (!list(st.Action).some((a) => a.startsWith('kms:'))) continue;
      if (list(st.Action).includes('kms:DescribeKey')) expect(st.Condition, st.Sid).toBeUndefined();
      else expect(st.Condition, st.Sid).toEqual(tenantCondition);
    }
    for (const st of key) {
      expect(st.Principal).toEqual({ AWS: ROLE });
      expect(st.Resource).toBe('*'); // in a key policy, "*" means this key
    }
  });
});

describe('the WORM (S3 Object Lock) permissions policy', () => {
  const derived = iamActionsByStatement(AWS_API_CALLS, { objectLock: true });
  const plain = statementsOf(awsSetup(full));
  const worm = statementsOf(awsSetup({ ...full, objectLock: 'GOVERNANCE' }));
  const { trust: _t, ...s3AndKms } = derived;
  const wormOnly = AWS_API_CALLS.filter((c) => c.onlyWith === 'objectLock').map((c) => c.iamAction);

  it('derives what the code calls with Object Lock', () => {
    expect(derived).toEqual({
      trust: ['sts:AssumeRole'],
      's3-objects': [
        's3:AbortMultipartUpload',
        's3:DeleteObject',
        's3:GetObject',
        's3:PutObject',
        's3:PutObjectLegalHold',
        's3:PutObjectRetention',
      ],
      's3-bucket': ['s3:ListBucket'],
      's3-bucket-config': ['s3:GetBucketObjectLockConfiguration'],
      'kms-tenant-context': ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
      'kms-no-context': ['kms:DescribeKey'],
    });
  });

  it('grants exactly those actions; the default policy grants none of the Object Lock ones', () => {
    expect(actionMismatches(worm.permissions, s3AndKms)).toEqual([]);
    expect(collect(plain.permissions, ['Action']).filter((a) => wormOnly.includes(a))).toEqual([]);
    // The mode changes nothing in IAM, and the trust and key policies are the same.
    expect(statementsOf(awsSetup({ ...full, objectLock: 'COMPLIANCE' }))).toEqual(worm);
    expect(worm.trust).toEqual(plain.trust);
    expect(worm.key).toEqual(plain.key);
  });

  it('differs from the default policy only by the Object Lock actions', () => {
    const withoutLock = worm.permissions
      .map((st) => ({ ...st, Action: list(st.Action).filter((a) => !wormOnly.includes(a)) }))
      .filter((st) => st.Action.length > 0);
    expect(withoutLock).toEqual(plain.permissions.map((st) => ({ ...st, Action: list(st.Action) })));
  });

  it('reads the lock configuration on the bucket ARN, without the s3:prefix condition', () => {
    const config = worm.permissions.filter((st) => STATEMENT_OF_SID[st.Sid ?? ''] === 's3-bucket-config');
    expect(config).toEqual([
      {
        Sid: 'CustodyBucketObjectLockConfiguration',
        Effect: 'Allow',
        Action: 's3:GetBucketObjectLockConfiguration',
        Resource: 'arn:aws:s3:::acme-recordings',
      },
    ]);
  });

  it('fails on a missing or an extra Object Lock action', () => {
    const declaredWithout = (action: string) => {
      const calls = AWS_API_CALLS.filter((c) => c.iamAction !== action);
      const { trust: _t, ...rest } = iamActionsByStatement(calls, { objectLock: true });
      return rest;
    };
    expect(actionMismatches(worm.permissions, declaredWithout('s3:PutObjectRetention'))).toEqual([
      'CustodyRecordingObjects: extra s3:PutObjectRetention',
    ]);
    expect(
      actionMismatches(worm.permissions, declaredWithout('s3:GetBucketObjectLockConfiguration')),
    ).toEqual(['unexpected statement CustodyBucketObjectLockConfiguration']);
    const versioning: AwsApiCall = {
      service: 's3',
      operation: 'GetBucketVersioning',
      iamAction: 's3:GetBucketVersioning',
      statement: 's3-bucket-config',
      onlyWith: 'objectLock',
      why: 'test',
    };
    const { trust: _w, ...withExtra } = iamActionsByStatement([...AWS_API_CALLS, versioning], {
      objectLock: true,
    });
    expect(actionMismatches(worm.permissions, withExtra)).toEqual([
      'CustodyBucketObjectLockConfiguration: missing s3:GetBucketVersioning',
    ]);
  });

  it('steps ask for an Object Lock bucket and register with objectLock', () => {
    const steps = awsSetup({ ...full, objectLock: 'COMPLIANCE' }).steps.join('\n');
    expect(steps).toContain('with Object Lock enabled');
    for (const action of wormOnly) expect(steps).toContain(action);
    expect(steps).toContain('"objectLock":{"mode":"COMPLIANCE"}}');
    const plainSteps = awsSetup(full).steps.join('\n');
    expect(plainSteps).toContain('?objectLock=GOVERNANCE or COMPLIANCE');
    expect(plainSteps).not.toContain('"objectLock"');
  });
});

describe.each([
  ['default', undefined, []],
  ['WORM', 'GOVERNANCE', ['arn:aws:s3:::acme-recordings']],
] as const)(
  'no wildcard actions or resources in the %s trust and permissions policies',
  (_name, objectLock, extraResources) => {
    const setup = awsSetup({ ...full, objectLock });
    const docs = [setup.trustPolicy, setup.permissionsPolicy];

    it('has no `*` in any action, no NotAction/NotResource, and no resource "*"', () => {
      const actions = collect(docs, ['Action', 'NotAction']);
      expect(actions.length).toBeGreaterThan(0);
      for (const a of actions) expect(a).not.toContain('*');
      expect(collect(docs, ['NotAction', 'NotResource'])).toEqual([]);
      for (const r of collect(docs, ['Resource'])) expect(r).not.toBe('*');
    });

    it('scopes every resource to the bucket, the prefix or the key', () => {
      expect(collect(setup.permissionsPolicy, ['Resource']).sort()).toEqual(
        [
          KEY,
          KEY,
          'arn:aws:s3:::acme-recordings',
          'arn:aws:s3:::acme-recordings/tenants/acme/*',
          ...extraResources,
        ].sort(),
      );
      const list = statementsOf(setup).permissions.find((s) => s.Sid === 'CustodyListOwnPrefix');
      expect(list?.Condition).toEqual({ StringLike: { 's3:prefix': 'tenants/acme/*' } });
    });

    it('the object resource matches every key the S3 target writes, and nothing next to it', () => {
      for (const prefix of ['tenants/acme', 'tenants/acme/']) {
        const perms = statementsOf(awsSetup({ ...full, prefix, objectLock })).permissions;
        const objects = perms.find((s) => s.Sid === 'CustodyRecordingObjects')!;
        const listing = perms.find((s) => s.Sid === 'CustodyListOwnPrefix')!;
        const resource = iamPattern(list(objects.Resource)[0]!);
        const target = new S3StorageTarget({} as never, { bucket: full.bucket, prefix });
        const arnOf = (key: string) => target.locationOf(key).replace(/^s3:\/\//, 'arn:aws:s3:::');
        expect(arnOf(objectKeyFor('rec_abc', new Date('2026-03-04T05:06:07Z')))).toMatch(resource);
        expect(arnOf('_custody/handshake-0011223344556677.esdk')).toMatch(resource);
        // A look-alike tenant prefix is outside.
        expect('arn:aws:s3:::acme-recordings/tenants/acme-corp/x.esdk').not.toMatch(resource);
        const listPrefix = iamPattern(listing.Condition!.StringLike!['s3:prefix'] as string);
        expect(target.prefix).toMatch(listPrefix);
        expect('tenants/acme-corp/').not.toMatch(listPrefix);
      }
    });

    it('takes the partition from the key ARN', () => {
      const cn = 'arn:aws-cn:kms:cn-north-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
      const perms = statementsOf(awsSetup({ ...full, kmsKeyArn: cn, objectLock })).permissions;
      const s3 = collect(perms, ['Resource']).filter((r) => r.includes(':s3:'));
      expect(s3.length).toBeGreaterThan(0);
      for (const r of s3) expect(r).toMatch(/^arn:aws-cn:s3:::acme-recordings/);
    });
  },
);

describe('filling', () => {
  it('with every value given, no placeholder remains and nothing is missing', () => {
    const setup = awsSetup(full);
    expect(JSON.stringify(setup)).not.toContain(SLOT);
    expect(setup.missing).toEqual([]);
    expect(setup.steps.join('\n')).toContain('PUT /v1/tenants/acme/storage');
  });

  it('with nothing given, `missing` lists exactly the placeholders left', () => {
    const setup = awsSetup({
      tenantId: 'acme',
      externalId: 'ext-acme-0123456789',
      connectorPrincipal: undefined,
    });
    const left = new Set(
      [
        ...JSON.stringify([setup.trustPolicy, setup.permissionsPolicy, setup.keyPolicyStatement]).matchAll(
          /\$\{(\w+)\}/g,
        ),
      ].map((m) => m[1]),
    );
    expect(setup.missing).toEqual([...left].sort());
    expect(setup.missing).toEqual([
      'BucketName',
      'ConnectorPrincipal',
      'KmsKeyArn',
      'Partition',
      'Prefix',
      'RoleArn',
    ]);
    expect(setup.connectorPrincipal).toBeNull();
    expect(setup.steps[0]).toMatch(/CUSTODY_AWS_CONNECTOR_PRINCIPAL/);
  });

  it('an empty prefix is the bucket root, not a missing value', () => {
    const setup = awsSetup({ ...full, prefix: '' });
    expect(setup.missing).toEqual([]);
    expect(collect(setup.permissionsPolicy, ['Resource'])).toContain('arn:aws:s3:::acme-recordings/*');
  });

  it('a value is substituted as text, never parsed (no JSON injection)', () => {
    const setup = awsSetup({ ...full, connectorPrincipal: 'x", "Action": "*' });
    expect(statementsOf(setup).trust[0]!.Principal).toEqual({ AWS: 'x", "Action": "*' });
    expect(statementsOf(setup).trust[0]!.Action).toBe('sts:AssumeRole');
  });
});

describe('parameter validation', () => {
  it.each([
    [
      bucketName,
      ['acme-recordings', 'a.b-c', 'abc'],
      ['AB', 'ab', 'a..b', '-ab', '192.168.1.1', 'xn--ab', 'a_b', 'ab-s3alias'],
    ],
    [
      keyPrefix,
      ['', 'a', 'tenants/acme', 'tenants/acme/', "a=b/c_d-e.f/(g)!'"],
      ['/a', 'a//b', 'a/*', '.a', 'a/..', 'a$b', 'a?b', 'a b', 'a\\b'],
    ],
    [
      kmsKeyArn,
      [KEY, 'arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef'],
      [
        'alias/x',
        'arn:aws:kms:eu-west-1:111122223333:alias/x',
        'arn:aws:kms:eu-west-1:1111:key/1234abcd-12ab-34cd-56ef-1234567890ab',
        `${KEY}*`,
      ],
    ],
    [
      roleArn,
      [ROLE, 'arn:aws:iam::111122223333:role/path/custody'],
      ['arn:aws:iam::111122223333:user/x', 'custody-writer', `${ROLE}*`],
    ],
    [objectLockMode, ['GOVERNANCE', 'COMPLIANCE'], ['governance', 'NONE', '', 'GOVERNANCE ']],
  ] as const)('%#: accepts the good, rejects the bad', (schema, good, bad) => {
    for (const v of good) expect(schema.safeParse(v).success, v).toBe(true);
    for (const v of bad) expect(schema.safeParse(v).success, v).toBe(false);
  });
});
