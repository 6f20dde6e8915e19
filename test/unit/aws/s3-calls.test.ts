import { randomBytes, randomUUID } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AWS_API_CALLS, operationsOf } from '../../../src/aws/api-calls.js';
import { PART_SIZE, S3StorageTarget } from '../../../src/storage/s3/s3-storage-target.js';
import { type S3rverHandle, startS3rver } from '../../support/s3rver.js';
import { readAll, streamOf } from '../../support/streams.js';
import { PartCopyProxy } from '../../support/part-copy-proxy.js';

/**
 * The declared S3 calls are what the S3 target really sends: a real client, instrumented
 * at the first middleware step, driven through every operation against s3rver (behind the
 * part-copy stand-in, which adds the UploadPartCopy s3rver lacks).
 */
describe('S3 calls of the S3 target', () => {
  let handle: S3rverHandle;
  let proxy: PartCopyProxy;
  let client: S3Client;
  const sent: string[] = [];
  /** The Object Lock headers of each request, by operation (as serialised, before sending). */
  const lockHeaders: { operation: string; headers: string[] }[] = [];

  beforeAll(async () => {
    handle = await startS3rver();
    proxy = await new PartCopyProxy(handle).start();
    client = handle.client(proxy.endpoint);
    client.middlewareStack.add(
      (next, context) => (args) => {
        sent.push(String(context.commandName).replace(/Command$/, ''));
        return next(args);
      },
      { step: 'initialize', name: 'recordCommandName' },
    );
    client.middlewareStack.add(
      (next, context) => (args) => {
        const headers = Object.keys((args.request as { headers?: object }).headers ?? {});
        lockHeaders.push({
          operation: String(context.commandName).replace(/Command$/, ''),
          headers: headers.map((h) => h.toLowerCase()).filter((h) => h.startsWith('x-amz-object-lock-')),
        });
        return next(args);
      },
      { step: 'build', name: 'recordObjectLockHeaders' },
    );
  });
  beforeEach(() => {
    sent.length = 0;
    lockHeaders.length = 0;
  });
  afterAll(async () => {
    await proxy?.stop();
    await handle?.stop();
  });

  it('sends only declared calls, and every declared call is seen', async () => {
    const target = new S3StorageTarget(client, {
      bucket: handle.bucket,
      prefix: `calls/${randomUUID()}`,
      checksumMode: 'when-required',
      copyScope: 'calls',
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
    // A rewrap's server-side splice: new head, then the body copied inside the store.
    const splice = { head: randomBytes(100), source: target, sourceKey: 'year=2026/big.esdk', offset: 80 };
    const spliced = await target.putSpliced!('year=2026/spliced.esdk', { ...splice, sourceSize: big.length });
    expect(spliced?.copiedRanges).toHaveLength(1);
    await target.delete('year=2026/spliced.esdk');
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
    expect(sent.filter((op) => op === 'CreateMultipartUpload')).toHaveLength(3);
    // Without Object Lock, no request carries its headers (which need more IAM actions).
    expect(lockHeaders.flatMap((r) => r.headers)).toEqual([]);
  });

  it('with Object Lock, sends only the declared WORM calls, each of them, with the declared headers', async () => {
    const target = new S3StorageTarget(client, {
      bucket: handle.bucket,
      prefix: `calls/${randomUUID()}`,
      checksumMode: 'when-required',
      objectLock: { mode: 'GOVERNANCE' },
    });
    const lock = { retainUntil: new Date(Date.now() + 86_400_000), legalHold: true };
    const small = randomBytes(1024);
    const big = randomBytes(PART_SIZE + 4096); // the multipart path carries the headers on its creation
    // s3rver implements no Object Lock: it ignores the headers of a put and refuses the rest.
    // What it answers matters little here; what the target sends is checked.
    const puts = await Promise.all([
      target.put('year=2026/small.esdk', streamOf(small), { contentLength: small.length, ...lock }),
      target.put('year=2026/big.esdk', streamOf(big, 256 * 1024), { contentLength: big.length, ...lock }),
    ]);
    expect(puts.map((p) => p.size)).toEqual([small.length, big.length]);
    await expect(target.setLegalHold?.('year=2026/small.esdk', true)).rejects.toMatchObject({
      code: 'MethodNotAllowed',
    });
    await expect(target.checkWorm?.()).rejects.toMatchObject({ code: 'NotImplemented' });

    const declared = operationsOf('s3', { objectLock: true });
    expect(sent.filter((op) => !declared.includes(op))).toEqual([]);
    const lockCalls = AWS_API_CALLS.filter((c) => c.onlyWith === 'objectLock');
    for (const { operation } of lockCalls) expect(sent, operation).toContain(operation);
    expect(sent.filter((op) => op === 'CreateMultipartUpload')).toHaveLength(1);
    // Each put operation declared with a lock action really carries the header AWS authorizes
    // as that action, and no put carries a lock header whose action is not declared for it.
    const headerAction: Record<string, string> = {
      'x-amz-object-lock-mode': 's3:PutObjectRetention',
      'x-amz-object-lock-retain-until-date': 's3:PutObjectRetention',
      'x-amz-object-lock-legal-hold': 's3:PutObjectLegalHold',
    };
    for (const { operation, headers } of lockHeaders) {
      const actions = lockCalls.filter((c) => c.operation === operation).map((c) => c.iamAction);
      for (const h of headers) expect(actions, `${operation} ${h}`).toContain(headerAction[h]);
    }
    for (const operation of ['PutObject', 'CreateMultipartUpload']) {
      const carried = lockHeaders.filter((r) => r.operation === operation).flatMap((r) => r.headers);
      expect(new Set(carried.map((h) => headerAction[h])), operation).toEqual(
        new Set(lockCalls.filter((c) => c.operation === operation).map((c) => c.iamAction)),
      );
    }
  });
});
