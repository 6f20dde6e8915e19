export {
  AWS_KMS_PROVIDER_ID,
  type AwsKmsKeyConfig,
  AwsKmsKeyProvider,
  AwsKmsKeyProviderFactory,
  type AwsKmsKeyProviderOptions,
  type CredentialsFor,
  type KmsCredentials,
  KEY_ARN,
  regionOfKeyArn,
} from './aws-kms-key-provider.js';
export { TENANT_KMS_ERRORS, translateKmsError } from './errors.js';
