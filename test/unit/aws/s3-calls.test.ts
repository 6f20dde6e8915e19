import { randomBytes, randomUUID } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AWS_API_CALLS, operationsOf } from '../../../src/aws/api-calls.js';
import { PART_SIZE, S3StorageTarget } from '../../../src/storage/s3/s3-storage-target.js';
import { type S3rverHandle, startS3rver } from '../../support/s3rver.js';
import { readAll, streamOf } from '../../support/streams.js';

/**
 * The declared S3 calls are what the S3 target really sends: a real client, instrumented
 * at the first middleware step, driven through every operation against s3rver.
 */
describe('S3 calls of the S3 target', () => {
  let handle: S3rverHandle;
  let client: S3Client;
  const sent: string[] = [];

  beforeAll(async () => {
    handle = await startS3rver();
    client = handle.client();
    client.middlewareStack.add(
      (next, context) => (args) => {
        sent.push(String(context.commandName).replace(/Command$/, ''));
        return next(args);
      },
      { step: 'initialize', name: 'recordCommandName' },
    );
  });
  afterAll(() => handle?.stop());

  it('sends only declared calls, and every declared call is seen', async () => {
    const target = new S3StorageTarget(client, {
      bucket: handle.bucket,
      prefix: `calls/${randomUUID()}`,
      checksumMode: 'when-required',
    });
    const small = randomBytes(1024);
    const big = randomBytes(PART_SIZE + 4096); // two parts: the multipart path

    await target.put('year=2026/small.esdk', streamOf(small), { contentLength: small.length });
    await target.put('year=2026/big.esdk', streamOf(big, 256 * 1024), { contentLength: big.length });
    expect((await target.head('year=2026/big.esdk'))?.size).toBe(big.length);
    const range = await readAll(await target.get('year=2026/big.esdk', { range: { start: 10, end: 99 } }));
    expect(range.equals(big.subarray(10, 100))).toBe(true);
    expect((await readAll(await target.get('year=2026/small.esdk'))).equals(small)).toBe(true);
    const keys: string[] = [];
    for await (const info of target.list('year=2026/')) keys.push(info.key);
    expect(keys).toEqual(['year=2026/big.esdk', 'year=2026/small.esdk']);
    await target.delete('year=2026/small.esdk');
    await target.delete('year=2026/big.esdk');

    // A multipart upload whose body falls short of its announced length: lib-storage
    // aborts it. (s3rver answers the abort with 405, but the call is what counts here.)
    const failing = target.put('year=2026/short.esdk', streamOf(big), { contentLength: big.length + 1 });
    await expect(failing).rejects.toMatchObject({ code: 'IncompleteBody' });

    const declared = operationsOf('s3');
    expect(new Set(sent)).toEqual(new Set(declared));
    expect(sent.filter((op) => !declared.includes(op))).toEqual([]);
    const onlyOnFailure = AWS_API_CALLS.filter((c) => c.onlyOnFailure).map((c) => c.operation);
    expect(onlyOnFailure).toEqual(['AbortMultipartUpload']);
    // Only the failing put aborted: the successful multipart upload did not.
    expect(sent.filter((op) => op === 'AbortMultipartUpload')).toHaveLength(1);
    expect(sent.filter((op) => op === 'CreateMultipartUpload')).toHaveLength(2);
  });
});
