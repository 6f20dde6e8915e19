import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { compactVerify, importJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, postRecording, waitForStatus } from '../support/client.js';
import { ADMIN_TOKEN, type Harness, startHarness } from '../support/harness.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const TENANT = 'acme-cli';
/** Every output of every run, checked at the end for the operator token. */
const outputs: string[] = [];

/**
 * `custody <args…>` in a child process, as an operator would run it: the same tsx entry
 * point the other CLI e2e tests spawn. `env` replaces CUSTODY_URL/CUSTODY_TOKEN.
 */
function custody(args: string[], o: { env?: Record<string, string | undefined>; input?: string } = {}) {
  const env: Record<string, string> = { PATH: process.env.PATH! };
  for (const [k, v] of Object.entries(o.env ?? {})) if (v !== undefined) env[k] = v;
  return new Promise<Run>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.resolve('src/cli/main.ts'), ...args], {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('utf8');
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => {
      outputs.push(stdout, stderr);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(o.input ?? '');
  });
}

// Each spawn loads the CLI through tsx (~1.5 s): a generous per-test budget for busy CI machines.
describe('custody admin commands', { timeout: 120_000 }, () => {
  let h: Harness;
  let dir: string;
  let key: string;
  let recordingId: string;
  const audio = randomBytes(30_000);
  const asOperator = (args: string[], input?: string) =>
    custody(args, { env: { CUSTODY_URL: h.url, CUSTODY_TOKEN: ADMIN_TOKEN }, input });
  const asTenant = (args: string[]) => custody(args, { env: { CUSTODY_URL: h.url, CUSTODY_TOKEN: key } });
  const json = (r: Run) => {
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  };

  beforeAll(async () => {
    h = await startHarness();
    dir = await mkdtemp(path.join(os.tmpdir(), 'custody-admin-cli-'));
  });
  afterAll(async () => {
    await h?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('creates, reads and changes a tenant', async () => {
    const created = json(
      await asOperator(['tenants', 'create', TENANT, '--name', 'Acme', '--retention', 'P30D', '--json']),
    );
    expect(created).toEqual((await api(h, 'GET', `/v1/tenants/${TENANT}`)).body);
    expect(created).toMatchObject({
      id: TENANT,
      name: 'Acme',
      retention: 'P30D',
      activeStorageVersion: null,
    });

    const shown = await asOperator(['tenants', 'get', TENANT]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^retention +P30D$/m);
    expect(shown.stdout).toMatch(/^storage +none registered$/m);

    const updated = json(
      await asOperator([
        'tenants',
        'update',
        TENANT,
        '--retention',
        'P7D',
        '--metadata-sidecar',
        'off',
        '--json',
      ]),
    );
    expect(updated).toMatchObject({ retention: 'P7D', metadataSidecar: 'off', name: 'Acme' });
    const nothing = await asOperator(['tenants', 'update', TENANT]);
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toBe('custody: give --name, --retention or --metadata-sidecar\n');
  });

  it('registers storage from a file and from stdin; show and test never print a secret', async () => {
    const body = path.join(dir, 'storage.json');
    await writeFile(body, JSON.stringify({ provider: 'local', path: 'cli' }));
    const first = await asOperator(['storage', 'register', '--tenant', TENANT, '--file', body]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^storage version 1 active\n( {2}ok {3}[a-z-]+ \(\d+ ms\)\n)+$/);

    const second = json(
      await asOperator(
        ['storage', 'register', '--tenant', TENANT, '--file', '-', '--json'],
        JSON.stringify({ provider: 'local', path: 'cli2' }),
      ),
    );
    expect(second).toMatchObject({ version: 2, status: 'active', handshake: { ok: true } });

    const shown = json(await asOperator(['storage', 'show', '--tenant', TENANT, '--json']));
    expect(shown).toEqual((await api(h, 'GET', `/v1/tenants/${TENANT}/storage`)).body);
    expect(shown.active).toMatchObject({ version: 2, provider: 'local', config: { path: 'cli2' } });
    expect(shown.history).toHaveLength(2);
    expect(JSON.stringify(shown)).not.toMatch(/secret|credential|BEGIN|masterKey/i);

    const human = await asOperator(['storage', 'show', '--tenant', TENANT]);
    expect(human.stdout).toMatch(/^version +2$/m);
    expect(human.stdout).toMatch(/^VERSION +PROVIDER +KEY +REGISTERED$/m);

    const test = await asOperator(['storage', 'test', '--tenant', TENANT]);
    expect(test.code, test.stderr).toBe(0);
    expect(test.stdout).toMatch(/^version 2 \(local\), handshake at \S+: passed\n/);
  });

  it('refuses a bad registration without echoing the file, and names the API’s reason', async () => {
    const broken = path.join(dir, 'broken.json');
    // Cut off mid-document: Node's own JSON error would quote the text around it.
    await writeFile(broken, '{"provider":"azure-blob","credential":{"clientSecret":"s3cr3t-do-not-print"');
    const parse = await asOperator(['storage', 'register', '--tenant', TENANT, '--file', broken]);
    expect(parse.code).toBe(1);
    expect(parse.stderr).toBe(`custody: ${broken} is not valid JSON\n`);

    const invalid = path.join(dir, 'invalid.json');
    await writeFile(invalid, JSON.stringify({ provider: 'local', path: '../escape' }));
    const refused = await asOperator(['storage', 'register', '--tenant', TENANT, '--file', invalid]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^custody: 400 VALIDATION_FAILED: .+\n$/);
    expect(outputs.join('')).not.toContain('s3cr3t-do-not-print');
  });

  it('fills in the AWS setup templates, on stdout or as files', async () => {
    const setup = json(
      await asOperator([
        'storage',
        'setup-templates',
        '--tenant',
        TENANT,
        '--bucket',
        'acme-calls',
        '--json',
      ]),
    );
    expect(setup).toEqual(
      (await api(h, 'GET', `/v1/tenants/${TENANT}/storage/aws-setup?bucket=acme-calls`)).body,
    );
    const out = path.join(dir, 'policies');
    const files = await asOperator(['storage', 'setup-templates', '--tenant', TENANT, '--out-dir', out]);
    expect(files.code, files.stderr).toBe(0);
    expect(files.stdout).toContain(`external id`);
    expect(files.stdout).toContain(setup.externalId);
    expect(JSON.parse(await readFile(path.join(out, 'trust-policy.json'), 'utf8'))).toEqual(
      setup.trustPolicy,
    );
    expect(JSON.parse(await readFile(path.join(out, 'key-policy-statement.json'), 'utf8'))).toEqual(
      setup.keyPolicyStatement,
    );
    // With Object Lock: the WORM permissions policy, as the API generates it.
    const worm = json(
      await asOperator([
        'storage',
        'setup-templates',
        '--tenant',
        TENANT,
        '--object-lock',
        'GOVERNANCE',
        '--json',
      ]),
    );
    expect(worm).toEqual(
      (await api(h, 'GET', `/v1/tenants/${TENANT}/storage/aws-setup?objectLock=GOVERNANCE`)).body,
    );
    expect(JSON.stringify(worm.permissionsPolicy)).toContain('s3:PutObjectRetention');
    expect(JSON.stringify(setup.permissionsPolicy)).not.toContain('s3:PutObjectRetention');
  });

  it('creates API keys (the secret once, on stdout), lists and revokes them', async () => {
    const scopes = ['tenant:admin', 'recordings:write', 'recordings:read'];
    const created = json(
      await asOperator([
        'api-keys',
        'create',
        '--tenant',
        TENANT,
        '--name',
        'crm',
        '--scope',
        ...scopes,
        '--json',
      ]),
    );
    expect(created).toMatchObject({ name: 'crm', scopes, expiresAt: null });
    key = created.key;

    const other = await asOperator([
      'api-keys',
      'create',
      '--tenant',
      TENANT,
      '--name',
      'temp',
      '--scope',
      'recordings:read',
      '--expires-at',
      '2099-01-01T00:00:00Z',
    ]);
    expect(other.code, other.stderr).toBe(0);
    const otherKey = other.stdout.trim();
    expect(other.stdout).toBe(`${otherKey}\n`);
    expect(other.stderr).toMatch(
      /^created \S+ \(recordings:read, expires 2099-01-01T00:00:00\.000Z\): store the key now/,
    );
    expect((await api(h, 'GET', '/v1/recordings', { token: otherKey })).status).toBe(200);

    const listed = json(await asOperator(['api-keys', 'list', '--tenant', TENANT, '--json']));
    expect(listed.items.map((k: { name: string }) => k.name).sort()).toEqual(['crm', 'temp']);
    const table = await asOperator(['api-keys', 'list', '--tenant', TENANT]);
    expect(table.stdout).toMatch(/^ID +NAME +SCOPES +EXPIRES +REVOKED +CREATED$/m);
    expect(table.stdout).not.toContain(key);
    expect(table.stdout).not.toContain(otherKey);

    const tempId = listed.items.find((k: { name: string }) => k.name === 'temp').id;
    const revoked = await asOperator(['api-keys', 'revoke', '--tenant', TENANT, tempId]);
    expect(revoked.stdout).toBe(`revoked ${tempId}\n`);
    expect((await api(h, 'GET', '/v1/recordings', { token: otherKey })).status).toBe(401);
  });

  it('reads, links, holds and deletes a recording with a tenant key', async () => {
    recordingId = (await postRecording(h, key, audio, { callId: 'call-cli' })).body.id;
    await waitForStatus(h, key, recordingId, ['stored']);

    // Read-only: run side by side.
    const [gotRun, human, listRun] = await Promise.all([
      asTenant(['recordings', 'get', recordingId, '--json']),
      asTenant(['recordings', 'get', recordingId]),
      asTenant(['recordings', 'list', '--status', 'stored', '--call-id', 'call-cli', '--json']),
    ]);
    expect(json(gotRun)).toEqual((await api(h, 'GET', `/v1/recordings/${recordingId}`, { token: key })).body);
    expect(human.stdout).toMatch(/^status +stored$/m);
    expect(human.stdout).toMatch(/^legal hold +off$/m);
    expect(json(listRun).items.map((r: { id: string }) => r.id)).toEqual([recordingId]);

    const link = await asTenant([
      'recordings',
      'link',
      recordingId,
      '--ttl',
      '60',
      '--on-behalf-of',
      'agent-7',
    ]);
    expect(link.code, link.stderr).toBe(0);
    const played = await fetch(link.stdout.trim());
    expect(played.status).toBe(200);
    expect(Buffer.from(await played.arrayBuffer()).equals(audio)).toBe(true);

    // The operator cannot act on recording content: the API's own refusal, one line.
    const operator = await asOperator(['recordings', 'get', recordingId]);
    expect(operator.code).toBe(1);
    expect(operator.stderr).toMatch(/^custody: 403 FORBIDDEN: .+\n$/);

    const held = await asTenant(['recordings', 'hold', recordingId, '--on', '--reason', 'litigation']);
    expect(held.stdout).toBe(`${recordingId} stored, legal hold on\n`);
    const refused = await asTenant(['recordings', 'delete', recordingId]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^custody: 409 LEGAL_HOLD: .+\n$/);
    const both = await asTenant(['recordings', 'hold', recordingId, '--on', '--off']);
    expect(both.code).not.toBe(0);
    const released = json(await asTenant(['recordings', 'hold', recordingId, '--off', '--json']));
    expect(released.legalHold).toBe(false);

    const deleted = await asTenant(['recordings', 'delete', recordingId]);
    expect(deleted.stdout).toBe(`${recordingId} deleting\n`);
    await waitForStatus(h, key, recordingId, ['deleted']);
    const retry = await asTenant(['recordings', 'retry', recordingId]);
    expect(retry.code).toBe(1);
    expect(retry.stderr).toMatch(/^custody: 409 [A-Z_]+: .+\n$/);
  });

  it('verifies the audit chain and exports a manifest, waiting for it', async () => {
    const verified = await asOperator(['audit', 'verify', '--tenant', TENANT]);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/^ok: \d+ entries, head [0-9a-f]{64}\n$/);
    expect(json(await asOperator(['audit', 'verify', '--tenant', TENANT, '--json']))).toMatchObject({
      ok: true,
    });

    const exported = json(await asOperator(['tenants', 'export', TENANT, '--wait', '--json']));
    expect(exported).toMatchObject({ status: 'done', recordings: 1, storageVersion: 2 });
    expect(exported).toEqual((await api(h, 'GET', `/v1/tenants/${TENANT}/export/${exported.id}`)).body);
    const human = await asOperator(['tenants', 'export', TENANT, '--wait']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^status +done$/m);
    expect(human.stdout).toMatch(/^manifest +\S*_custody\/exports\/\S+\/manifest\.jsonl$/m);
  });

  it('lists key jobs and webhooks; a private webhook URL is the API’s refusal', async () => {
    expect(json(await asOperator(['keys', 'list', '--tenant', TENANT, '--json']))).toEqual({ items: [] });
    expect((await asOperator(['webhooks', 'list', '--tenant', TENANT])).stdout).toBe('(none)\n');
    const hook = await asOperator([
      'webhooks',
      'create',
      '--tenant',
      TENANT,
      '--url',
      'https://127.0.0.1/hook',
    ]);
    expect(hook.code).toBe(1);
    expect(hook.stderr).toMatch(/^custody: 400 ENDPOINT_NOT_ALLOWED: .+\n$/);
  });

  it('reports usage, API and network errors on one line with distinct exit codes', async () => {
    const unknown = await asOperator(['tenants', 'get', 'no-such-tenant']);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toBe('custody: 404 NOT_FOUND: Tenant not found.\n');

    const noUrl = await custody(['tenants', 'get', TENANT], { env: { CUSTODY_TOKEN: ADMIN_TOKEN } });
    expect(noUrl.code).toBe(64);
    expect(noUrl.stderr).toBe(
      'custody: set CUSTODY_URL to the service’s base URL, e.g. http://localhost:8080\n',
    );
    const noToken = await custody(['tenants', 'get', TENANT], { env: { CUSTODY_URL: h.url } });
    expect(noToken.code).toBe(64);
    expect(noToken.stderr).toMatch(/^custody: set CUSTODY_TOKEN/);

    // A port that was free a moment ago: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const down = await custody(['tenants', 'get', TENANT], {
      env: { CUSTODY_URL: `http://127.0.0.1:${port}`, CUSTODY_TOKEN: ADMIN_TOKEN },
    });
    expect(down.code).toBe(2);
    expect(down.stderr).toBe(`custody: cannot reach http://127.0.0.1:${port}: ECONNREFUSED\n`);

    const tokenFile = path.join(dir, 'token');
    await writeFile(tokenFile, `${ADMIN_TOKEN}\n`, { mode: 0o600 });
    const fromFile = await custody(['tenants', 'get', TENANT, '--json'], {
      env: { CUSTODY_URL: `${h.url}/`, CUSTODY_TOKEN_FILE: tokenFile },
    });
    expect(json(fromFile).id).toBe(TENANT);
  });

  it('deletes the tenant, waits for the certificate and saves it', async () => {
    const wrong = await asOperator(['tenants', 'delete', TENANT, '--confirm', 'acme']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^custody: 400 CONFIRMATION_REQUIRED: .+\n$/);

    const file = path.join(dir, 'certificate.json');
    const done = await asOperator(['tenants', 'delete', TENANT, '--confirm', TENANT, '-o', file]);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(/^status +deleted$/m);
    expect(done.stdout).toMatch(/^recordings deleted +1$/m);
    expect(done.stderr).toBe(`certificate written to ${file}\n`);

    // The saved file is the service's certificate file, and its JWS verifies with the published key.
    const saved = JSON.parse(await readFile(file, 'utf8'));
    expect(saved.format).toBe('custody-deletion-certificate/v1');
    const jwk = (await api(h, 'GET', '/v1/deletion-certificates/public-key', { token: null })).body;
    const { payload } = await compactVerify(saved.jws, await importJWK(jwk, 'EdDSA'));
    const content = JSON.parse(Buffer.from(payload).toString('utf8'));
    expect(content).toEqual(saved.certificate);
    expect(content.tenantId).toBe(TENANT);
    expect(content.recordings.map((r: { id: string }) => r.id)).toEqual([recordingId]);

    const again = json(await asOperator(['tenants', 'certificate', TENANT, '--json']));
    expect(again).toMatchObject({ status: 'deleted', certificate: saved.jws, kid: saved.kid });
  });

  it('never printed the operator token', () => {
    expect(outputs.length).toBeGreaterThan(0);
    expect(outputs.join('\n')).not.toContain(ADMIN_TOKEN);
  });
});
