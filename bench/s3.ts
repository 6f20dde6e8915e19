import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { PART_SIZE, QUEUE_SIZE } from '../src/storage/s3/s3-storage-target.js';
import type { AwsOperation } from '../test/support/aws-standin.js';
import { type AwsWorld, setupS3Tenant, startAwsWorld } from '../test/support/aws-world.js';
import { isMain } from './common.js';
import type { BenchRow } from './table.js';
import {
  compareUploads,
  printUploadCompare,
  type UploadCompareOptions,
  type UploadStore,
  withWorld,
} from './upload-compare.js';

export type S3BenchOptions = UploadCompareOptions;

/**
 * The baseline upload: lib-storage with the part size, queue size and (through the
 * s3rver client: checksums `WHEN_REQUIRED`) checksum mode Custody's S3 target uses.
 */
function upload(client: S3Client, bucket: string, key: string, body: Buffer | Readable, size: number) {
  return new Upload({
    client,
    partSize: PART_SIZE,
    queueSize: QUEUE_SIZE,
    leavePartsOnError: false,
    params: { Bucket: bucket, Key: key, Body: body, ContentLength: size, ContentType: 'audio/wav' },
  }).done();
}

/** s3rver, the STS/KMS stand-in's call counters, S3 tenants. */
function s3Store(world: AwsWorld): UploadStore<AwsOperation> {
  const client = world.s3.client();
  return {
    id: 's3',
    baseline: 'lib-storage → s3rver',
    upload: (name, body, size) => upload(client, world.s3.bucket, name, body, size),
    setupTenant: (h, tenantId) => setupS3Tenant(h, world, tenantId),
    counts: () => world.aws.counts,
    tokenOp: 'AssumeRole',
    tokenLabel: 'STS AssumeRole',
    keyOps: ['GenerateDataKey', 'Decrypt', 'DescribeKey', 'Encrypt'],
    keyLabel: 'KMS calls',
  };
}

/**
 * End to end on S3: Custody (`custody start`: API and workers in this process) against
 * lib-storage uploading the same bytes straight to the same s3rver. s3rver, the STS/KMS
 * stand-in and the HTTP client live in this process too, so both sides pay s3rver's
 * per-request CPU on the same event loop; the ratio is baseline time / Custody time.
 */
export function runS3Bench(opts: S3BenchOptions = {}): Promise<BenchRow[]> {
  return withWorld(startAwsWorld, (world, h) => compareUploads(h, s3Store(world), opts));
}

if (isMain(import.meta.url)) await printUploadCompare('S3 end to end', runS3Bench);
