import { S3Client } from '@aws-sdk/client-s3';
import { STSClient } from '@aws-sdk/client-sts';
import type { Config } from '../config/index.js';
import { s3Plan } from '../domain/storage/plans/s3.js';
import type { ProviderPlan } from '../domain/storage/plans/plan.js';
import { AwsKmsKeyProviderFactory } from '../keys/aws-kms/index.js';
import type { KeyProviderRegistry } from '../keys/registry.js';
import { guardedRequestHandlerOptions } from '../security/guarded-http.js';
import type { StorageRegistry } from '../storage/registry.js';
import { S3StorageFactory, s3ClientConfig } from '../storage/s3/index.js';
import { AssumedRoleCredentials } from './assume-role.js';

/** The tenant role a version's config names: both the S3 client and the KMS keyring act as it. */
function roleOf(tenantId: string, config: { roleArn?: string; externalId?: string }) {
  return { tenantId, roleArn: config.roleArn ?? '', externalId: config.externalId ?? '' };
}

/**
 * Wires AWS in: the connector's own identity comes from the default credential chain
 * (environment, IRSA web identity, instance profile); every call into a tenant's account
 * uses temporary credentials from AssumeRole into the tenant's role, cached per tenant
 * and role and shared by its S3 client and KMS keyring (one AssumeRole per session, not
 * per recording). Endpoints follow `AWS_ENDPOINT_URL_*` as the SDK defines them.
 */
export function registerAws(
  config: Config,
  registries: { storageTargets: StorageRegistry; keyProviders: KeyProviderRegistry },
): ProviderPlan {
  const sts = new STSClient({ region: config.aws.stsRegion });
  const credentials = new AssumedRoleCredentials({ sts, durationSeconds: config.aws.sessionSeconds });
  const { storageTargets, keyProviders } = registries;
  if (!storageTargets.has('s3')) {
    storageTargets.register(
      new S3StorageFactory(
        (s3, tenantId) =>
          new S3Client({
            ...s3ClientConfig(s3),
            credentials: credentials.forTenant(roleOf(tenantId, s3)),
            // A tenant-supplied endpoint is checked on every connection, not only at
            // registration (DNS rebinding). Operator-set endpoints (AWS_ENDPOINT_URL_S3) are trusted.
            ...(s3.endpoint !== undefined
              ? { requestHandler: guardedRequestHandlerOptions(config.allowPrivateEndpoints) }
              : {}),
          }),
      ),
    );
  }
  if (!keyProviders.has('aws-kms')) {
    keyProviders.register(
      new AwsKmsKeyProviderFactory((tenantId, kms) => credentials.forTenant(roleOf(tenantId, kms))),
    );
  }
  return s3Plan(credentials);
}
