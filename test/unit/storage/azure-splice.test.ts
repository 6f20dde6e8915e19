import { randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IntegrityError } from '../../../src/errors.js';
import { AzureBlobStorageTarget } from '../../../src/storage/azure-blob/azure-blob-storage-target.js';
import { MIN_SPLICE_BODY } from '../../../src/storage/azure-blob/azure-splice.js';
import { type AzuriteHandle, startAzurite } from '../../support/azurite.js';
import { BlockCopyProxy } from '../../support/block-copy-proxy.js';

const MiB = 1024 * 1024;

/**
 * When the Azure target's server-side splice declines, so that the caller streams: another
 * principal, too little to copy, a store without Put Block From URL (Azurite; remembered),
 * a source the service could not read (not remembered). The copy itself is tested end to
 * end in test/azure/server-side-copy.test.ts, where the service principal has real tokens.
 */
describe('Azure server-side splice: when it declines', () => {
  let azurite: AzuriteHandle;
  let proxy: BlockCopyProxy;
  const container = `splice-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    azurite = await startAzurite();
    await azurite.createContainer(container);
    proxy = await new BlockCopyProxy(new URL(azurite.accountUrl).origin).start();
  });
  afterAll(async () => {
    await proxy?.stop();
    await azurite?.stop();
  });

  /** A target (through `accountUrl`) whose token requests are counted. */
  function targetAt(accountUrl: string, scope = 'principal-a') {
    const tokens = { asked: 0 };
    const service = new BlobServiceClient(accountUrl, azurite.sharedKeyCredential);
    const target = new AzureBlobStorageTarget(service.getContainerClient(container), {
      prefix: `p-${randomUUID()}`,
      copy: {
        scope,
        sourceToken: async () => {
          tokens.asked++;
          return 'not-a-token-this-azurite-accepts';
        },
      },
    });
    return { target, tokens };
  }

  async function putSource(target: AzureBlobStorageTarget, size: number) {
    const bytes = randomBytes(size);
    await target.put('src.esdk', Readable.from([bytes]), { contentLength: size });
    return bytes;
  }

  const spliceOf = (source: AzureBlobStorageTarget, size: number, offset = 0) => ({
    head: randomBytes(64),
    source,
    sourceKey: 'src.esdk',
    offset,
    sourceSize: size,
  });

  it('another principal, or too little body: declines before any request', async () => {
    const { target: from } = targetAt(azurite.accountUrl, 'principal-a');
    const size = MIN_SPLICE_BODY + 100;
    await putSource(from, size);
    const { target: other, tokens } = targetAt(azurite.accountUrl, 'principal-b');
    expect(await other.putSpliced!('x.esdk', spliceOf(from, size))).toBeUndefined();
    expect(await from.putSpliced!('x.esdk', spliceOf(from, size, 200))).toBeUndefined();
    expect(tokens.asked).toBe(0);
    expect(await from.head('x.esdk')).toBeUndefined();
    // A target built without `copy` has no splice at all.
    expect(new AzureBlobStorageTarget(from.container).putSpliced).toBeUndefined();
  });

  it('on a store without Put Block From URL: declines, commits nothing, and stops trying', async () => {
    const { target, tokens } = targetAt(azurite.accountUrl);
    const size = 6 * MiB;
    await putSource(target, size);
    expect(await target.putSpliced!('new.esdk', spliceOf(target, size))).toBeUndefined();
    expect(await target.head('new.esdk')).toBeUndefined();
    expect(tokens.asked).toBe(1);
    expect(await target.putSpliced!('new.esdk', spliceOf(target, size))).toBeUndefined();
    expect(tokens.asked, 'remembered: no second attempt').toBe(1);
  });

  it('a source the service cannot read: declines this one only; a source of another size is refused', async () => {
    const { target, tokens } = targetAt(`${proxy.endpoint}/${azurite.accountName}`);
    const size = 6 * MiB;
    await putSource(target, size);
    // The stand-in reads the source with the given bearer token, which shared-key Azurite refuses.
    expect(await target.putSpliced!('new.esdk', spliceOf(target, size))).toBeUndefined();
    expect(await target.putSpliced!('new.esdk', spliceOf(target, size))).toBeUndefined();
    expect(tokens.asked, 'not remembered: tried again').toBe(2);
    expect(proxy.copies).toEqual([]);
    expect(await target.head('new.esdk')).toBeUndefined();
    await expect(target.putSpliced!('new.esdk', spliceOf(target, size + 1))).rejects.toBeInstanceOf(
      IntegrityError,
    );
  });

  it('a failed copy is an error whose cause no longer carries the source token', async () => {
    const { target } = targetAt(`${proxy.endpoint}/${azurite.accountName}`);
    const size = 6 * MiB;
    await putSource(target, size);
    // No head to stage: the first PUT is the Put Block From URL, and the store refuses it.
    proxy.failNext('PUT', 'InvalidHeaderValue', 400);
    const err = (await target.putSpliced!('new.esdk', {
      ...spliceOf(target, size),
      head: Buffer.alloc(0),
    }).then(
      () => undefined,
      (e: unknown) => e,
    )) as Error & { code: string; cause: any };
    expect(err).toMatchObject({ code: 'InvalidHeaderValue' });
    const sent = err.cause.request.headers.toJSON();
    expect(sent['x-ms-copy-source']).toContain('src.esdk');
    expect(JSON.stringify(sent)).not.toContain('not-a-token');
  });
});
