import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config/index.js';

const key32 = () => randomBytes(32).toString('base64');

describe('loadConfig', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'custody-config-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('applies the contract defaults', () => {
    const c = loadConfig({ CUSTODY_ADMIN_TOKEN: 'a'.repeat(20) }, 'api');
    expect(c.port).toBe(8080);
    expect(c.databaseUrl).toBe('postgres://127.0.0.1:5432/custody');
    expect(c.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(c.queuePrefix).toBe('{custody}');
    expect(c.publicUrl).toBe('http://localhost:8080');
    expect(c.spoolQuotaBytes).toBe(20 * 1024 ** 3);
    expect(c.maxRecordingBytes).toBe(4 * 1024 ** 3);
    expect(c.dataKeyCacheMs).toBe(300_000);
    expect(c.local.enabled).toBe(true);
    expect(c.local.keyFile).toBe(path.resolve('./data/local-master.key'));
  });

  it('reports every bad variable at once', () => {
    const env = {
      PORT: 'eighty',
      CUSTODY_SECRETS_KEY: 'short',
      CUSTODY_LINK_SIGNING_KEYS: 'nokid',
      CUSTODY_LOCAL_PROVIDER: 'maybe',
    };
    try {
      loadConfig(env, 'api');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      expect(problems).toMatch(/PORT/);
      expect(problems).toMatch(/CUSTODY_LOCAL_PROVIDER/);
      expect(problems).toMatch(/CUSTODY_SECRETS_KEY/);
      expect(problems).toMatch(/CUSTODY_LINK_SIGNING_KEYS/);
      expect(problems).toMatch(/CUSTODY_ADMIN_TOKEN/);
    }
    try {
      loadConfig({ CUSTODY_SECRETS_KEY: 'short', CUSTODY_LINK_SIGNING_KEYS: 'nokid' }, 'api');
      expect.unreachable();
    } catch (err) {
      const problems = (err as ConfigError).problems;
      expect(problems.some((p) => p.startsWith('CUSTODY_ADMIN_TOKEN'))).toBe(true);
      expect(problems.some((p) => p.startsWith('CUSTODY_SECRETS_KEY'))).toBe(true);
      expect(problems.some((p) => p.startsWith('CUSTODY_LINK_SIGNING_KEYS'))).toBe(true);
    }
  });

  it('validates only what each role needs', () => {
    expect(() => loadConfig({}, 'migrate')).not.toThrow();
    expect(() => loadConfig({}, 'worker')).not.toThrow();
    expect(() => loadConfig({}, 'api')).toThrow(/CUSTODY_ADMIN_TOKEN/);
    expect(() => loadConfig({ NODE_ENV: 'production' }, 'worker')).toThrow(/CUSTODY_SECRETS_KEY/);
    expect(() => loadConfig({ NODE_ENV: 'production' }, 'migrate')).not.toThrow();
  });

  it('reads secrets from *_FILE and refuses both forms at once', async () => {
    const token = 'file-token-0123456789';
    const file = path.join(dir, 'token');
    await writeFile(file, `${token}\n`);
    expect(loadConfig({ CUSTODY_ADMIN_TOKEN_FILE: file }, 'api').adminToken).toBe(token);
    expect(() => loadConfig({ CUSTODY_ADMIN_TOKEN_FILE: file, CUSTODY_ADMIN_TOKEN: token }, 'api')).toThrow(
      /not both/,
    );
    expect(() => loadConfig({ CUSTODY_ADMIN_TOKEN_FILE: path.join(dir, 'missing') }, 'api')).toThrow(
      /cannot read/,
    );
  });

  it('parses link signing keys: kid:key pairs, each at least 32 bytes, the first signs', () => {
    const a = key32();
    const b = key32();
    const c = loadConfig(
      { CUSTODY_LINK_SIGNING_KEYS: `new:${a},old:${b}`, CUSTODY_SECRETS_KEY: key32() },
      'worker',
    );
    expect(c.linkSigningKeys!.map((k) => k.kid)).toEqual(['new', 'old']);
    expect(() =>
      loadConfig({ CUSTODY_LINK_SIGNING_KEYS: `k:${randomBytes(16).toString('base64')}` }, 'worker'),
    ).toThrow(/32 bytes/);
    expect(() => loadConfig({ CUSTODY_LINK_SIGNING_KEYS: `k:${a},k:${b}` }, 'worker')).toThrow(/twice/);
  });

  it('validates CUSTODY_ALLOW_PRIVATE_ENDPOINTS at load, listing every bad entry', () => {
    const ok = loadConfig(
      { CUSTODY_ALLOW_PRIVATE_ENDPOINTS: ' minio.internal, 10.0.0.0/8 ,fd00::/8,' },
      'worker',
    );
    expect(ok.allowPrivateEndpoints).toEqual(['minio.internal', '10.0.0.0/8', 'fd00::/8']);
    try {
      loadConfig({ CUSTODY_ALLOW_PRIVATE_ENDPOINTS: '10.0.0.0/33,minio.internal,bad host!' }, 'worker');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems).toEqual([
        'CUSTODY_ALLOW_PRIVATE_ENDPOINTS: bad entry "10.0.0.0/33": the prefix length must be 0-32',
        'CUSTODY_ALLOW_PRIVATE_ENDPOINTS: bad entry "bad host!": expected a host name, an IP address or a CIDR',
      ]);
    }
  });

  it('needs both inbox variables for direct ingest', () => {
    expect(() => loadConfig({ CUSTODY_INBOX_DIR: dir }, 'worker')).toThrow(/both/);
    const c = loadConfig({ CUSTODY_INBOX_DIR: dir, CUSTODY_INBOX_HMAC_KEY: key32() }, 'worker');
    expect(c.inbox?.dir).toBe(dir);
  });

  it('never honours the crash-point hook in production', () => {
    const env = {
      CUSTODY_TEST_CRASH_AT: 'x',
      CUSTODY_SECRETS_KEY: key32(),
      CUSTODY_LINK_SIGNING_KEYS: `k:${key32()}`,
    };
    expect(loadConfig(env, 'worker').crashAt).toBe('x');
    expect(loadConfig({ ...env, NODE_ENV: 'production' }, 'worker').crashAt).toBeUndefined();
  });
});
