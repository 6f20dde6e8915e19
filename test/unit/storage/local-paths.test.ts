import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalStorageFactory } from '../../../src/storage/local/local-storage-factory.js';
import { LocalStorageTarget } from '../../../src/storage/local/local-storage-target.js';
import { InvalidObjectKeyError } from '../../../src/storage/object-key.js';

describe('local target path validation', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'custody-local-paths-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('roots the target at <rootDir>/<tenantId>/<path>, "default" when no path is given', async () => {
    const factory = new LocalStorageFactory(dir);
    const target = (await factory.create('acme', {})) as LocalStorageTarget;
    expect(target.root).toBe(path.join(dir, 'acme', 'default'));
    expect((await stat(target.root)).isDirectory()).toBe(true);
    const named = (await factory.create('acme', { path: 'calls.v2' })) as LocalStorageTarget;
    expect(named.root).toBe(path.join(dir, 'acme', 'calls.v2'));
    expect(named.locationOf('year=2026/a.esdk')).toBe(
      `file://${path.join(dir, 'acme', 'calls.v2', 'year=2026', 'a.esdk')}`,
    );
  });

  it.each(['', 'a', 'Acme', '-acme', 'acme-', 'ac_me', 'ac/me', '..', '../x', 'a'.repeat(64)])(
    'refuses tenant id %j',
    async (tenantId) => {
      expect(() => new LocalStorageTarget(dir, tenantId, 'default')).toThrow(/invalid tenant id/);
      await expect(new LocalStorageFactory(dir).create(tenantId, {})).rejects.toThrow(/invalid tenant id/);
    },
  );

  it.each(['', '.', '..', '.hidden', '../x', 'a/b', 'a\\b', 'Upper', '-x', '_x', 'a'.repeat(64), '/abs'])(
    'refuses path %j',
    async (p) => {
      await expect(new LocalStorageFactory(dir).create('acme', { path: p })).rejects.toThrow(
        /invalid local storage path/,
      );
    },
  );

  it('accepts paths up to 63 characters of [a-z0-9._-]', async () => {
    const p = `a${'b.-_'.repeat(15)}c9`;
    expect(p).toHaveLength(63);
    await expect(new LocalStorageFactory(dir).create('acme', { path: p })).resolves.toBeDefined();
  });

  it('reserves the ".partial" suffix used by uploads in progress', async () => {
    const target = await new LocalStorageFactory(dir).create('acme', {});
    expect(() => target.locationOf('a/b.esdk.partial')).toThrow(InvalidObjectKeyError);
    expect(() => target.locationOf('x.partial/b.esdk')).toThrow(InvalidObjectKeyError);
    await expect(target.head('a.partial')).rejects.toBeInstanceOf(InvalidObjectKeyError);
  });
});
