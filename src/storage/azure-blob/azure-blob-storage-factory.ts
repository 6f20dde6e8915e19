import type http from 'node:http';
import type https from 'node:https';
import type { TokenCredential } from '@azure/identity';
import {
  BlobServiceClient,
  type StorageSharedKeyCredential,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import type { StorageTarget, StorageTargetFactory } from '../storage-target.js';
import { type AzureImmutabilityMode, AzureBlobStorageTarget } from './azure-blob-storage-target.js';

/** A tenant's `azure-blob` registration. The container is the tenant's own; it is never created here. */
export interface AzureBlobConfig {
  /** `https://<account>.blob.core.windows.net` (or a sovereign cloud's, or a path-style emulator URL). */
  accountUrl: string;
  container: string;
  /** Name prefix of the tenant's blobs in the container. @defaultValue `''` */
  prefix?: string;
  /** The tenant's service principal (a `ClientSecretCredential`, say) or, in tests, a shared key. */
  credential: TokenCredential | StorageSharedKeyCredential;
  /** Version-level immutability (WORM) for recordings; the container must support it. */
  immutability?: { mode: AzureImmutabilityMode };
  /**
   * Who `credential` is (authority, directory, client): versions of the same scope may copy
   * each other's blobs server-side, the service reading the source with this principal's
   * token. Unset (or a shared key): no server-side copy.
   */
  copyScope?: string;
}

/** The scope of Azure Storage tokens, for the copy source's authorization. */
const STORAGE_SCOPE = 'https://storage.azure.com/.default';

/**
 * `StoragePipelineOptions` plus `agent`: the storage clients pass their options on to
 * @azure/core-rest-pipeline's `createPipelineFromOptions`, whose `agent` option installs an
 * `agentPolicy` that gives every request that Node agent (ahead of any proxy agent). The
 * storage package's own type does not declare it, hence this one. One agent serves every
 * request, so it must fit the account URL's protocol (an `https.Agent` for `https:`).
 */
export type AzureBlobPipelineOptions = StoragePipelineOptions & { agent?: http.Agent | https.Agent };

export interface AzureBlobStorageFactoryOptions {
  /** For every client this factory builds: retry options, ... */
  pipelineOptions?: AzureBlobPipelineOptions;
  /** The agent for an account URL (the SSRF-guarded one of its protocol). */
  agentFor?: (accountUrl: URL) => http.Agent | https.Agent;
}

/**
 * Builds `azure-blob` targets. Nothing is created in the tenant's account at registration,
 * so `create` and `open` are the same: a missing container shows up as `container-missing`
 * (`ContainerNotFound`) on the first operation.
 */
export class AzureBlobStorageFactory implements StorageTargetFactory<AzureBlobConfig> {
  readonly provider = 'azure-blob';

  constructor(private readonly options: AzureBlobStorageFactoryOptions = {}) {}

  async create(tenantId: string, config: AzureBlobConfig): Promise<StorageTarget> {
    return this.open(tenantId, config);
  }

  async open(_tenantId: string, config: AzureBlobConfig): Promise<StorageTarget> {
    if (!config.container) throw new Error('Azure Blob container name is required');
    const agent = this.options.agentFor?.(new URL(config.accountUrl));
    const options: AzureBlobPipelineOptions = {
      ...this.options.pipelineOptions,
      ...(agent ? { agent } : {}),
    };
    const service = new BlobServiceClient(config.accountUrl, config.credential, options);
    return new AzureBlobStorageTarget(service.getContainerClient(config.container), {
      prefix: config.prefix ?? '',
      ...(config.immutability ? { immutability: config.immutability } : {}),
      ...copyOptions(config),
    });
  }
}

function copyOptions(config: AzureBlobConfig) {
  const { credential, copyScope } = config;
  if (copyScope === undefined || !('getToken' in credential)) return {};
  const sourceToken = async () => {
    const token = await credential.getToken(STORAGE_SCOPE);
    if (!token) throw new Error('the service principal returned no storage token');
    return token.token;
  };
  return { copy: { scope: copyScope, sourceToken } };
}
