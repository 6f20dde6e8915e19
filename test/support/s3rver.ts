import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';

// s3rver ships no types; this is the little of it used here.
interface ListOptions {
  startAfter?: string;
  maxKeys?: number;
  [option: string]: unknown;
}
interface ListResult {
  objects: { key: string }[];
  commonPrefixes: string[];
  isTruncated: boolean;
}
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  store: { listObjects(bucket: string, options: ListOptions): Promise<ListResult> };
}
type S3rverConstructor = new (options: {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
  configureBuckets: { name: string }[];
}) => S3rverInstance;
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;

export interface S3rverHandle {
  endpoint: string;
  bucket: string;
  /**
   * A client for this server: path-style, the `S3RVER` key, checksums only when required.
   * `endpoint`: reach it through a proxy in front of it instead.
   */
  client(endpoint?: string): S3Client;
  stop(): Promise<void>;
}

/** A local S3 stand-in on 127.0.0.1 (random port, temp directory) with one empty bucket. */
export async function startS3rver(bucket = 'custody-test'): Promise<S3rverHandle> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'custody-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory,
    silent: true,
    configureBuckets: [{ name: bucket }],
  });
  listInKeyOrder(server);
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const clients: S3Client[] = [];
  return {
    endpoint,
    bucket,
    client(via = endpoint) {
      const client = new S3Client({
        region: 'us-east-1',
        endpoint: via,
        forcePathStyle: true,
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
        // With the defaults, s3rver stores a streamed body with its aws-chunked framing.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
      clients.push(client);
      return client;
    },
    async stop() {
      for (const client of clients.splice(0)) client.destroy();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/**
 * s3rver lists in file-system walk order (`p1/b/c` before `p1/b-d`); S3 lists in UTF-8 byte
 * order, which the contract relies on. This sorts the whole listing, then applies
 * `startAfter` and `maxKeys`. (Continuation tokens still fail on Node 20: s3rver makes them
 * with DES, which OpenSSL 3 refuses, so listings past 1000 keys cannot be tested here.)
 */
function listInKeyOrder(server: S3rverInstance): void {
  const store = server.store;
  const original = store.listObjects.bind(store);
  store.listObjects = async (bucket, options) => {
    const { startAfter = '', maxKeys = Number.POSITIVE_INFINITY } = options;
    const all = await original(bucket, { ...options, startAfter: '', maxKeys: Number.POSITIVE_INFINITY });
    const after = Buffer.from(startAfter);
    const sorted = all.objects
      .filter((o) => Buffer.compare(Buffer.from(o.key), after) > 0)
      .sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
    return {
      ...all,
      objects: sorted.slice(0, maxKeys),
      isTruncated: sorted.length > maxKeys,
    };
  };
}
