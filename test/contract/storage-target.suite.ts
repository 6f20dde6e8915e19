import { readAll, streamOf } from '../support/streams.js';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ObjectNotFoundError } from '../../src/errors.js';
import { InvalidObjectKeyError } from '../../src/storage/object-key.js';
import type { ObjectInfo, StorageTarget } from '../../src/storage/storage-target.js';

/** One isolated, empty target (its own directory, bucket prefix or container) per test. */
export type StorageTargetSetup = () => Promise<{ target: StorageTarget; cleanup(): Promise<void> }>;

const MiB = 1024 * 1024;

async function listAll(target: StorageTarget, prefix?: string): Promise<ObjectInfo[]> {
  const items: ObjectInfo[] = [];
  for await (const info of target.list(prefix)) items.push(info);
  return items;
}

/** Sends `head` bytes, then stalls until destroyed (by an abort) or fails, as told. */
function stallingBody(head: Buffer, then: 'stall' | 'error'): { body: Readable; started: Promise<void> } {
  let markStarted: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    markStarted = resolve;
  });
  let sent = false;
  const body = new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(head);
        return;
      }
      markStarted();
      if (then === 'error') setImmediate(() => this.destroy(new Error('upstream connection reset')));
    },
  });
  return { body, started };
}

/**
 * The behaviour every `StorageTarget` (local, S3, Azure Blob) must show. Each test gets
 * a fresh target from `setup`, so suites can run against shared buckets.
 */
export function storageTargetContract(name: string, setup: StorageTargetSetup): void {
  describe(`StorageTarget contract: ${name}`, () => {
    let target: StorageTarget;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ target, cleanup } = await setup());
    });
    afterEach(async () => {
      await cleanup();
    });

    describe('put, head and get', () => {
      it.each([
        ['empty', 0],
        ['one byte', 1],
        ['small', 1000],
        ['over 1 MiB', MiB + 12_345],
      ])('round-trips a %s object (%i bytes)', async (_label, size) => {
        const data = randomBytes(size);
        const key = `round-trip/${size}.esdk`;
        const put = await target.put(key, streamOf(data), { contentType: 'application/octet-stream' });
        expect(put.key).toBe(key);
        expect(put.size).toBe(size);

        const head = await target.head(key);
        expect(head?.size).toBe(size);
        if (put.version !== undefined) expect(head?.version).toBe(put.version);

        expect((await readAll(await target.get(key))).equals(data)).toBe(true);
      });

      it('accepts a body whose length is announced up front', async () => {
        const data = randomBytes(3 * MiB + 1);
        const put = await target.put('announced.esdk', streamOf(data, MiB), { contentLength: data.length });
        expect(put.size).toBe(data.length);
        expect((await readAll(await target.get('announced.esdk'))).equals(data)).toBe(true);
      });

      it('describes where an object lives', () => {
        expect(target.locationOf('year=2026/month=11/day=22/rec.esdk')).toMatch(/rec\.esdk/);
      });
    });

    describe('ranged get', () => {
      const data = randomBytes(100_000);
      beforeEach(async () => {
        await target.put('ranged.esdk', streamOf(data, 4096));
      });

      it.each([
        ['the start', 0, 9],
        ['the middle', 50_000, 60_999],
        ['the end', 99_990, 99_999],
        ['a single byte', 12_345, 12_345],
        ['the whole object', 0, 99_999],
      ])('returns %s (%i-%i inclusive)', async (_label, start, end) => {
        const got = await readAll(await target.get('ranged.esdk', { range: { start, end } }));
        expect(got.equals(data.subarray(start, end + 1))).toBe(true);
      });
    });

    describe('replacing', () => {
      it('a second put of the same key replaces content and version', async () => {
        const first = await target.put('same.esdk', streamOf(Buffer.from('first version')));
        const second = await target.put('same.esdk', streamOf(Buffer.from('second, longer version')));
        expect((await readAll(await target.get('same.esdk'))).toString()).toBe('second, longer version');
        expect(second.size).toBe(22);
        if (first.version !== undefined || second.version !== undefined) {
          expect(second.version).not.toBe(first.version);
          expect((await target.head('same.esdk'))?.version).toBe(second.version);
        }
        expect((await listAll(target, 'same')).map((o) => o.key)).toEqual(['same.esdk']);
      });
    });

    describe('missing objects and delete', () => {
      it('head of a missing object is undefined', async () => {
        expect(await target.head('missing/nothing.esdk')).toBeUndefined();
      });

      it('get of a missing object rejects with ObjectNotFoundError', async () => {
        await expect(target.get('missing/nothing.esdk')).rejects.toBeInstanceOf(ObjectNotFoundError);
      });

      it('delete removes the object and is idempotent', async () => {
        await target.put('doomed/a.esdk', streamOf(Buffer.from('bye')));
        await target.delete('doomed/a.esdk');
        await target.delete('doomed/a.esdk');
        await target.delete('never/existed.esdk');
        expect(await target.head('doomed/a.esdk')).toBeUndefined();
        await expect(target.get('doomed/a.esdk')).rejects.toBeInstanceOf(ObjectNotFoundError);
        expect(await listAll(target)).toEqual([]);
      });

      it('delete leaves other objects alone', async () => {
        await target.put('keep/a.esdk', streamOf(Buffer.from('a')));
        await target.put('keep/b.esdk', streamOf(Buffer.from('b')));
        await target.delete('keep/a.esdk');
        expect((await listAll(target)).map((o) => o.key)).toEqual(['keep/b.esdk']);
      });
    });

    describe('list', () => {
      beforeEach(async () => {
        // Written out of order; `p1/b-d` sorts before `p1/b/c` in key (byte) order.
        for (const key of ['p1/b/c.esdk', 'p2/x.esdk', 'p1/b-d.esdk', 'p1/a.esdk', 'p10/z.esdk']) {
          await target.put(key, streamOf(Buffer.from(key)));
        }
      });

      it('returns complete objects under a prefix, in key order', async () => {
        const items = await listAll(target, 'p1/');
        expect(items.map((o) => o.key)).toEqual(['p1/a.esdk', 'p1/b-d.esdk', 'p1/b/c.esdk']);
        expect(items[0]?.size).toBe('p1/a.esdk'.length);
      });

      it('treats the prefix as a plain string prefix', async () => {
        expect((await listAll(target, 'p1/b')).map((o) => o.key)).toEqual(['p1/b-d.esdk', 'p1/b/c.esdk']);
        expect((await listAll(target, 'p1')).map((o) => o.key)).toEqual([
          'p1/a.esdk',
          'p1/b-d.esdk',
          'p1/b/c.esdk',
          'p10/z.esdk',
        ]);
      });

      it('lists everything without a prefix, and nothing under an unknown one', async () => {
        expect(await listAll(target)).toHaveLength(5);
        expect(await listAll(target, 'nope/')).toEqual([]);
      });
    });

    describe('failed uploads leave no object', () => {
      async function expectAbsent(key: string): Promise<void> {
        expect(await target.head(key)).toBeUndefined();
        await expect(target.get(key)).rejects.toBeInstanceOf(ObjectNotFoundError);
        expect((await listAll(target)).map((o) => o.key)).not.toContain(key);
      }

      it('an AbortSignal fired mid-stream rejects the put', async () => {
        const controller = new AbortController();
        const { body, started } = stallingBody(randomBytes(256 * 1024), 'stall');
        const put = target.put('aborted/a.esdk', body, { signal: controller.signal });
        await started;
        controller.abort();
        await expect(put).rejects.toThrow();
        await expectAbsent('aborted/a.esdk');
      });

      it('a body that fails mid-way rejects the put', async () => {
        const { body } = stallingBody(randomBytes(256 * 1024), 'error');
        await expect(target.put('broken/a.esdk', body)).rejects.toThrow();
        await expectAbsent('broken/a.esdk');
      });

      it('a failed replacement keeps the previous object intact', async () => {
        await target.put('kept/a.esdk', streamOf(Buffer.from('original')));
        const { body } = stallingBody(randomBytes(128 * 1024), 'error');
        await expect(target.put('kept/a.esdk', body)).rejects.toThrow();
        expect((await readAll(await target.get('kept/a.esdk'))).toString()).toBe('original');
        expect((await listAll(target)).map((o) => o.key)).toEqual(['kept/a.esdk']);
      });

      it('a retry after a failed put stores the object', async () => {
        const { body } = stallingBody(randomBytes(128 * 1024), 'error');
        await expect(target.put('retried/a.esdk', body)).rejects.toThrow();
        const data = randomBytes(10_000);
        await target.put('retried/a.esdk', streamOf(data));
        expect((await readAll(await target.get('retried/a.esdk'))).equals(data)).toBe(true);
        expect((await listAll(target)).map((o) => o.key)).toEqual(['retried/a.esdk']);
      });
    });

    describe('key validation', () => {
      it.each([
        '../escape.esdk',
        'a/../../escape.esdk',
        '/absolute.esdk',
        'a//b.esdk',
        'a\\b.esdk',
        'a/.hidden.esdk',
        'nul\u0000.esdk',
        '',
      ])('rejects %j on every operation', async (key) => {
        await expect(target.put(key, streamOf(Buffer.from('x')))).rejects.toBeInstanceOf(
          InvalidObjectKeyError,
        );
        await expect(target.head(key)).rejects.toBeInstanceOf(InvalidObjectKeyError);
        await expect(target.get(key)).rejects.toBeInstanceOf(InvalidObjectKeyError);
        await expect(target.delete(key)).rejects.toBeInstanceOf(InvalidObjectKeyError);
        expect(() => target.locationOf(key)).toThrow(InvalidObjectKeyError);
      });

      it('rejects a listing prefix that escapes', async () => {
        await expect(listAll(target, '../')).rejects.toBeInstanceOf(InvalidObjectKeyError);
        await expect(listAll(target, '/abs')).rejects.toBeInstanceOf(InvalidObjectKeyError);
      });
    });
  });
}
