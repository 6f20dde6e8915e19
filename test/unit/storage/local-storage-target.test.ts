import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ObjectNotFoundError, StorageError } from '../../../src/errors.js';
import { LocalStorageFactory } from '../../../src/storage/local/local-storage-factory.js';
import type { LocalStorageTarget } from '../../../src/storage/local/local-storage-target.js';
import { StorageRegistry } from '../../../src/storage/registry.js';

const KEY = 'year=2026/month=11/day=22/rec_1.esdk';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function keys(target: LocalStorageTarget, prefix?: string): Promise<string[]> {
  const out: string[] = [];
  for await (const info of target.list(prefix)) out.push(info.key);
  return out;
}

describe('LocalStorageTarget (local specifics)', () => {
  let dir: string;
  let target: LocalStorageTarget;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'custody-local-target-'));
    target = (await new LocalStorageFactory(dir).create('acme', {})) as LocalStorageTarget;
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('stores objects as 0600 files at the key path', async () => {
    await target.put(KEY, Readable.from([Buffer.from('cipher')]));
    const file = path.join(target.root, ...KEY.split('/'));
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(target.locationOf(KEY)).toBe(`file://${file}`);
  });

  it('hides and later removes leftovers of a crashed upload', async () => {
    const partialDir = path.join(target.root, ...`${KEY}.partial`.split('/'));
    await mkdir(partialDir, { recursive: true });
    await writeFile(path.join(partialDir, 'crashed-attempt'), 'half an obj');
    expect(await target.head(KEY)).toBeUndefined();
    await expect(target.get(KEY)).rejects.toBeInstanceOf(ObjectNotFoundError);
    expect(await keys(target)).toEqual([]);

    await target.put(KEY, Readable.from([Buffer.from('complete')]));
    expect(await readdir(path.dirname(partialDir))).toEqual(['rec_1.esdk']);
  });

  it('delete removes upload leftovers and the directories it leaves empty, but not the root', async () => {
    await target.put(KEY, Readable.from([Buffer.from('x')]));
    await target.put('year=2026/month=11/day=23/rec_2.esdk', Readable.from([Buffer.from('y')]));
    const partialDir = path.join(target.root, ...`${KEY}.partial`.split('/'));
    await mkdir(partialDir);
    await writeFile(path.join(partialDir, 'crashed-attempt'), 'half');

    await target.delete(KEY);
    expect(await readdir(path.join(target.root, 'year=2026', 'month=11'))).toEqual(['day=23']);
    await target.delete('year=2026/month=11/day=23/rec_2.esdk');
    expect(await readdir(target.root)).toEqual([]);
  });

  it('never reports a directory as an object', async () => {
    await target.put(KEY, Readable.from([Buffer.from('x')]));
    expect(await target.head('year=2026')).toBeUndefined();
    await expect(target.get('year=2026/month=11')).rejects.toBeInstanceOf(ObjectNotFoundError);
    await target.delete('year=2026'); // a prefix, not an object: nothing to do
    expect(await keys(target)).toEqual([KEY]);
  });

  it('skips dot-files and other stray names when listing', async () => {
    await target.put(KEY, Readable.from([Buffer.from('x')]));
    await writeFile(path.join(target.root, '.DS_Store'), '');
    await writeFile(path.join(target.root, 'back\\slash'), '');
    expect(await keys(target)).toEqual([KEY]);
  });

  it('rejects a body shorter than the announced length and stores nothing', async () => {
    const put = target.put(KEY, Readable.from([Buffer.alloc(10)]), { contentLength: 11 });
    await expect(put).rejects.toMatchObject({ code: 'IncompleteBody' });
    expect(await target.head(KEY)).toBeUndefined();
    expect(await readdir(target.root)).toEqual(['year=2026']);
    expect(await keys(target)).toEqual([]);
  });

  it('rejects a put whose signal is already aborted without touching the disk', async () => {
    await expect(
      target.put(KEY, Readable.from([Buffer.from('x')]), { signal: AbortSignal.abort() }),
    ).rejects.toThrow();
    expect(await readdir(target.root)).toEqual([]);
  });

  it('refuses ranges that start beyond the object', async () => {
    await target.put(KEY, Readable.from([Buffer.alloc(10)]));
    await expect(target.get(KEY, { range: { start: 10, end: 20 } })).rejects.toBeInstanceOf(RangeError);
    await expect(target.get(KEY, { range: { start: 5, end: 4 } })).rejects.toBeInstanceOf(RangeError);
    // An end past the object is clamped, as with HTTP ranges.
    expect(await readAll(await target.get(KEY, { range: { start: 8, end: 99 } }))).toHaveLength(2);
  });

  it('keeps every concurrent put of one key whole: the object is one of them, never a mix', async () => {
    const bodies = Array.from({ length: 8 }, (_, i) => Buffer.alloc(256 * 1024 + i, i + 1));
    const results = await Promise.allSettled(
      bodies.map((b) => target.put(KEY, Readable.from([b.subarray(0, 1000), b.subarray(1000)]))),
    );
    expect(results.some((r) => r.status === 'fulfilled')).toBe(true);
    const stored = await readAll(await target.get(KEY));
    expect(bodies.some((b) => b.equals(stored))).toBe(true);
    expect(await keys(target)).toEqual([KEY]);
  });

  it('reports a missing root directory as NoSuchBucket on every operation', async () => {
    await rm(target.root, { recursive: true });
    const expectMissing = async (p: Promise<unknown>) => {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(StorageError);
      expect(err).toMatchObject({ kind: 'container-missing', code: 'NoSuchBucket' });
    };
    await expectMissing(target.put(KEY, Readable.from([Buffer.from('x')])));
    await expectMissing(target.head(KEY));
    await expectMissing(target.get(KEY));
    await expectMissing(target.delete(KEY));
    await expectMissing(keys(target));
    // put must not quietly recreate the "bucket".
    await expect(stat(target.root)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('StorageRegistry', () => {
  it('creates targets by provider and rejects unknown providers clearly', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'custody-registry-'));
    try {
      const registry = new StorageRegistry().register(new LocalStorageFactory(dir));
      const target = await registry.create('local', 'acme', { provider: 'local', path: 'p1' });
      expect(target.provider).toBe('local');
      expect(registry.providers()).toEqual(['local']);
      await expect(registry.create('s3', 'acme', {})).rejects.toThrow(
        /no storage provider registered for "s3" \(registered: local\)/,
      );
      expect(() => registry.register(new LocalStorageFactory(dir))).toThrow(/already registered/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
