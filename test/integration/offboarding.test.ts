import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Queue } from 'bullmq';
import { compactVerify, decodeProtectedHeader, importJWK } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { verifyChain } from '../../src/domain/audit.js';
import { TENANT_DELETE_CRASH } from '../../src/domain/offboarding/delete-tenant.js';
import { QUEUES } from '../../src/queue/names.js';
import { api, createKey, postRecording, setupTenant, waitForStatus } from '../support/client.js';
import { type Harness, startHarness } from '../support/harness.js';
import {
  auditEntries,
  countAudit,
  DEADLINE_MS,
  filesUnder,
  sha256,
  spoolFiles,
  targetFiles,
  waitUntil,
} from '../support/observe.js';
import { killWorker, spawnWorker, type WorkerProcess, withDeadline } from '../support/worker-process.js';
import { expectProblem } from './contract-helpers.js';

/** Spawned worker processes take seconds each on a busy machine. */
const SLOW = 240_000;

/**
 * Offboarding on the `local` provider: the export manifest read straight from the
 * tenant's storage directory, tenant deletion (confirmation, legal hold, every copy gone,
 * keys dead, a certificate anyone can verify with the published key, idempotence), and a
 * deletion that survives worker crashes and a lost queue job.
 */
describe('offboarding: tenant export and tenant deletion', () => {
  let h: Harness;
  const children: WorkerProcess[] = [];

  beforeAll(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await Promise.all(children.splice(0).map(killWorker));
  });
  afterAll(async () => {
    await h?.close();
  });

  const storageRoot = (tenantId: string) => path.join(h.dataDir, 'storage', tenantId, 'default');

  async function stored(key: string, n: number, prefix: string): Promise<any[]> {
    const out = [];
    for (let i = 0; i < n; i++) {
      const r = await postRecording(h, key, randomBytes(10_000 + i * 7_777), { callId: `${prefix}-${i}` });
      expect(r.status, r.bytes.toString()).toBe(202);
      out.push(await waitForStatus(h, key, r.body.id, ['stored']));
    }
    return out;
  }

  const view = async (key: string, id: string) =>
    (await api(h, 'GET', `/v1/recordings/${id}`, { token: key })).body;

  async function waitForExport(tenantId: string, id: string, token?: string) {
    return waitUntil('the export to finish', async () => {
      const r = await api(h, 'GET', `/v1/tenants/${tenantId}/export/${id}`, { token });
      expect(r.status).toBe(200);
      return r.body.status !== 'running' && r.body;
    });
  }

  async function waitForCertificate(tenantId: string) {
    return waitUntil('the tenant to be deleted', async () => {
      const r = await api(h, 'GET', `/v1/tenants/${tenantId}/deletion-certificate`);
      expect(r.status, r.bytes.toString()).toBe(200);
      return r.body.status === 'deleted' && r.body;
    });
  }

  /** Verifies the JWS with the key published at the public endpoint (fetched without credentials). */
  async function verifyCertificate(jws: string) {
    const jwk = await api(h, 'GET', '/v1/deletion-certificates/public-key', { token: null });
    expect(jwk.status).toBe(200);
    expect(jwk.body).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' });
    expect(jwk.body.d).toBeUndefined();
    const key = await importJWK(jwk.body, 'EdDSA');
    const { payload, protectedHeader } = await compactVerify(jws, key, { algorithms: ['EdDSA'] });
    expect(protectedHeader.kid).toBe(jwk.body.kid);
    expect(protectedHeader.typ).toBe('custody-deletion-certificate+jws');
    return { doc: JSON.parse(new TextDecoder().decode(payload)), key };
  }

  it('export: the manifest in the tenant’s storage lists every recording as the API shows it', async () => {
    const tenantId = 'off-export';
    const { key } = await setupTenant(h, tenantId);
    const recs = await stored(key, 3, 'exp');
    const hold = await api(h, 'PUT', `/v1/recordings/${recs[0].id}/legal-hold`, {
      token: key,
      json: { hold: true, reason: 'case 7' },
    });
    expect(hold.status).toBe(200);
    expect((await api(h, 'DELETE', `/v1/recordings/${recs[2].id}`, { token: key })).status).toBe(202);
    await waitForStatus(h, key, recs[2].id, ['deleted']);

    const started = await api(h, 'POST', `/v1/tenants/${tenantId}/export`, { token: key });
    expect(started.status, started.bytes.toString()).toBe(202);
    expect(started.body.id).toMatch(/^exp_/);
    const done = await waitForExport(tenantId, started.body.id, key);
    expect(done).toMatchObject({ status: 'done', recordings: 3 });
    expect(done.location).toEqual(expect.any(String));

    const file = path.join(storageRoot(tenantId), '_custody', 'exports', started.body.id, 'manifest.jsonl');
    const bytes = await readFile(file);
    expect(sha256(bytes)).toBe(done.manifestSha256);
    const lines = bytes
      .toString('utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(4);
    const summary = lines.pop();
    expect(lines.map((l) => l.id).sort()).toEqual(recs.map((r) => r.id).sort());

    for (const line of lines) {
      const v = await view(key, line.id);
      expect(line).toMatchObject({
        type: 'recording',
        id: v.id,
        callId: v.callId,
        status: v.status,
        sha256: v.sha256,
        size: v.size,
        createdAt: v.createdAt,
        expiresAt: v.expiresAt,
        legalHold: v.legalHold,
        storageVersion: 1,
        provider: 'local',
      });
      if (v.status === 'stored') {
        expect(line).toMatchObject({
          storedAt: v.storedAt,
          location: v.storage.location,
          keyId: v.storage.keyId,
        });
        // The size of the object actually in the tenant's storage.
        expect(line.objectSize).toBe((await stat(path.join(storageRoot(tenantId), line.objectKey))).size);
      }
    }
    expect(lines.find((l) => l.id === recs[0].id).legalHold).toBe(true);
    expect(lines.find((l) => l.id === recs[2].id).status).toBe('deleted');

    expect(summary).toMatchObject({
      type: 'summary',
      exportId: started.body.id,
      tenantId,
      recordings: 3,
      byStatus: { stored: 2, deleted: 1 },
    });
    // The head pinned in the summary is a real entry of the chain.
    const audit = await auditEntries(h, tenantId);
    expect(audit.find((e) => e.seq === summary.auditHead.seq)?.hash).toBe(summary.auditHead.hash);
    const exported = audit.filter((e) => e.action === 'tenant.exported');
    expect(exported).toHaveLength(1);
    expect(exported[0]).toMatchObject({
      target: `export:${started.body.id}`,
      detail: { recordings: 3, manifestSha256: done.manifestSha256 },
    });
  });

  it('export: bad ids are 404, a tenant without storage is 409', async () => {
    const { key } = await setupTenant(h, 'off-export-2');
    for (const id of ['nope', 'exp_AAAAAAAAAAAAAAAA', '..%2F..'])
      expectProblem(
        await api(h, 'GET', `/v1/tenants/off-export-2/export/${id}`, { token: key }),
        404,
        'NOT_FOUND',
      );
    expect(
      (await api(h, 'POST', '/v1/tenants', { json: { id: 'off-bare', name: 'b', retention: 'P1D' } })).status,
    ).toBe(201);
    expectProblem(await api(h, 'POST', '/v1/tenants/off-bare/export'), 409, 'NO_STORAGE');
  });

  it(
    'delete: confirmation, legal hold, then every copy gone, keys dead, a verifiable certificate',
    async () => {
      const tenantId = 'off-delete';
      const { key } = await setupTenant(h, tenantId);
      const readKey = await createKey(h, tenantId, ['recordings:read']);
      const recs = await stored(key, 3, 'del');
      // Deleted before the tenant: listed in the certificate too, with its own time.
      expect((await api(h, 'DELETE', `/v1/recordings/${recs[2].id}`, { token: key })).status).toBe(202);
      await waitForStatus(h, key, recs[2].id, ['deleted']);
      // One more still in the spool (the in-process workers are stopped): its spool copy must go too.
      await h.stopWorkers();
      const queued = await postRecording(h, key, randomBytes(5000), { callId: 'del-queued' });
      expect(queued.status).toBe(202);
      const ids = [...recs.map((r) => r.id), queued.body.id].sort();

      // Confirmation.
      const del = (json?: unknown) =>
        api(h, 'DELETE', `/v1/tenants/${tenantId}`, json === undefined ? {} : { json });
      expectProblem(await del(), 400, 'VALIDATION_FAILED');
      expectProblem(await del({}), 400, 'VALIDATION_FAILED');
      expectProblem(await del({ confirm: 'off-other' }), 400, 'CONFIRMATION_REQUIRED');
      expectProblem(await del({ confirm: tenantId, extra: 1 }), 400, 'VALIDATION_FAILED');
      expectProblem(
        await api(h, 'DELETE', '/v1/tenants/off-missing', { json: { confirm: 'off-missing' } }),
        404,
        'NOT_FOUND',
      );

      // Legal hold: refused, and nothing changed.
      const auditBefore = (await auditEntries(h, tenantId)).length;
      const hold = (on: boolean) =>
        api(h, 'PUT', `/v1/recordings/${recs[1].id}/legal-hold`, { token: key, json: { hold: on } });
      expect((await hold(true)).status).toBe(200);
      const refused = await del({ confirm: tenantId });
      expectProblem(refused, 409, 'LEGAL_HOLD');
      expect(refused.body.recordings).toEqual([recs[1].id]);
      expect((await view(key, recs[0].id)).status).toBe('stored');
      expect((await view(key, recs[1].id)).status).toBe('stored');
      const kept = (await targetFiles(h, tenantId)).complete.filter((f) => f.endsWith('.esdk'));
      // Each recording's audio object and, beside it, its metadata sidecar.
      expect(kept.filter((f) => !f.endsWith('.meta.json.esdk'))).toHaveLength(2);
      expect(kept.filter((f) => f.endsWith('.meta.json.esdk'))).toHaveLength(2);
      expect((await api(h, 'GET', `/v1/tenants/${tenantId}`)).body.status).toBe('active');
      expectProblem(await api(h, 'GET', `/v1/tenants/${tenantId}/deletion-certificate`), 404, 'NOT_FOUND');
      expect((await auditEntries(h, tenantId)).length).toBe(auditBefore + 1); // the hold only
      expect((await hold(false)).status).toBe(200);

      // Delete.
      const accepted = await del({ confirm: tenantId });
      expect(accepted.status, accepted.bytes.toString()).toBe(202);
      expect(accepted.body).toMatchObject({ tenantId, status: 'deleting' });
      // The keys stop working at once, before any recording is gone.
      for (const k of [key, readKey]) {
        expectProblem(
          await api(h, 'GET', `/v1/recordings/${recs[0].id}`, { token: k }),
          401,
          'UNAUTHENTICATED',
        );
      }
      expectProblem(await postRecording(h, key, randomBytes(100)), 401, 'UNAUTHENTICATED');
      // Nor can a new key bring the tenant back.
      expectProblem(
        await api(h, 'POST', `/v1/tenants/${tenantId}/api-keys`, {
          json: { name: 'x', scopes: ['recordings:read'] },
        }),
        409,
        'TENANT_DELETED',
      );
      await h.startWorkers();
      const cert = await waitForCertificate(tenantId);

      // Every object and spool copy is gone; the certificate copy is in the tenant's storage.
      const left = await filesUnder(storageRoot(tenantId));
      expect(left.filter((f) => !f.startsWith('_custody'))).toEqual([]);
      expect(left).toContain(path.join('_custody', 'deletion-certificate.json'));
      expect((await spoolFiles(h)).filter((f) => f.startsWith(`${tenantId}${path.sep}`))).toEqual([]);
      const rows = await h.ctx.db.query(
        'SELECT id, status, spool_file FROM recordings WHERE tenant_id = $1',
        [tenantId],
      );
      expect(rows.rows.every((r) => r.status === 'deleted' && r.spool_file === null)).toBe(true);

      // The certificate verifies with the published key and lists exactly the deleted recordings.
      const { doc, key: publicKey } = await verifyCertificate(cert.certificate);
      expect(doc).toEqual(cert.content);
      expect(doc).toMatchObject({ tenantId, issuer: 'custody', requestedAt: accepted.body.requestedAt });
      expect(doc.recordings.map((r: { id: string }) => r.id)).toEqual(ids);
      const byId = new Map<string, any>(doc.recordings.map((r: any) => [r.id, r]));
      for (const r of recs) {
        expect(byId.get(r.id)).toMatchObject({
          objectKey: expect.stringMatching(new RegExp(`${r.id}\\.esdk$`)),
          location: r.storage.location,
          storageVersion: 1,
        });
      }
      for (const r of doc.recordings) {
        expect(Date.parse(r.deletedAt)).toBeLessThanOrEqual(Date.parse(doc.completedAt));
      }
      expect(Date.parse(byId.get(recs[2].id).deletedAt)).toBeLessThan(Date.parse(doc.requestedAt));
      expect(cert.storageCopy).toMatchObject({ location: expect.any(String), error: null });

      // A tampered certificate does not verify.
      const [head, payload, signature] = cert.certificate.split('.');
      const forged = Buffer.from(
        JSON.stringify({ ...doc, recordings: doc.recordings.slice(1) }),
        'utf8',
      ).toString('base64url');
      await expect(compactVerify(`${head}.${forged}.${signature}`, publicKey)).rejects.toThrow();
      expect(payload).not.toBe(forged);

      // The copy in the tenant's storage is the same signed certificate.
      const copy = JSON.parse(
        await readFile(path.join(storageRoot(tenantId), '_custody', 'deletion-certificate.json'), 'utf8'),
      );
      expect(copy.jws).toBe(cert.certificate);
      expect(copy.kid).toBe(decodeProtectedHeader(cert.certificate).kid);
      expect((await verifyCertificate(copy.jws)).doc).toEqual(doc);

      // The audit chain is kept, still verifies, and its head at completion is in the certificate.
      const audit = await auditEntries(h, tenantId);
      expect(verifyChain(audit)).toBeUndefined();
      const deleted = audit.filter((e) => e.action === 'tenant.deleted');
      expect(deleted).toHaveLength(1);
      expect(doc.auditHead).toEqual({ seq: deleted[0].seq, hash: deleted[0].hash });
      for (const id of ids) expect(countAudit(audit, 'recording.deleted', id)).toBe(1);
      expect(audit.filter((e) => e.action === 'api-key.revoked').length).toBeGreaterThanOrEqual(2);
      expect(audit.at(-1).action).toBe('tenant.storage-released');

      // The tenant is deleted, storage access dropped; a second DELETE is idempotent.
      const tenant = await api(h, 'GET', `/v1/tenants/${tenantId}`);
      expect(tenant.body).toMatchObject({ status: 'deleted', activeStorageVersion: null });
      const again = await del({ confirm: tenantId });
      expect(again.status).toBe(202);
      expect(again.body).toMatchObject({
        tenantId,
        status: 'deleted',
        requestedAt: accepted.body.requestedAt,
      });
      expect((await auditEntries(h, tenantId)).length).toBe(audit.length);
      expect((await api(h, 'GET', `/v1/tenants/${tenantId}/deletion-certificate`)).body.certificate).toBe(
        cert.certificate,
      );
      expectProblem(await api(h, 'POST', `/v1/tenants/${tenantId}/export`), 409, 'TENANT_DELETED');
    },
    SLOW,
  );

  it(
    'delete: resumes after a worker dies mid-way and after the queue job is lost',
    async () => {
      const tenantId = 'off-resume';
      const { key } = await setupTenant(h, tenantId);
      const recs = await stored(key, 3, 'res');
      await h.stopWorkers();
      const accepted = await api(h, 'DELETE', `/v1/tenants/${tenantId}`, { json: { confirm: tenantId } });
      expect(accepted.status).toBe(202);

      const crashAt = async (point: string) => {
        const w = spawnWorker(h.env, { CUSTODY_TEST_CRASH_AT: point });
        children.push(w);
        const exit = await withDeadline(
          w.exited,
          DEADLINE_MS,
          () => `never reached ${point}:\n${w.output()}`,
        );
        expect(exit, w.output()).toEqual({ code: null, signal: 'SIGKILL' });
      };
      const statuses = async () =>
        (
          await h.ctx.db.query<{ status: string }>('SELECT status FROM recordings WHERE tenant_id = $1', [
            tenantId,
          ])
        ).rows.map((r) => r.status);

      // Dies right after the first recording is deleted: the others are still there.
      await crashAt(TENANT_DELETE_CRASH.afterFirstRecording);
      expect((await statuses()).filter((s) => s === 'deleted').length).toBeGreaterThanOrEqual(1);
      expect((await statuses()).filter((s) => s === 'stored').length).toBeGreaterThanOrEqual(1);
      expect((await api(h, 'GET', `/v1/tenants/${tenantId}/deletion-certificate`)).body.status).toBe(
        'deleting',
      );

      // Dies right after signing: the certificate exists, storage not yet released.
      await crashAt(TENANT_DELETE_CRASH.afterCertificate);
      expect(await statuses()).toEqual(['deleted', 'deleted', 'deleted']);
      const mid = await h.ctx.db.query('SELECT phase FROM deletion_certificates WHERE tenant_id = $1', [
        tenantId,
      ]);
      expect(mid.rows[0].phase).toBe('issued');
      expect((await api(h, 'GET', `/v1/tenants/${tenantId}`)).body.status).toBe('deleting');

      // Redis loses the job too: the reconciler tick of a fresh worker enqueues it again.
      const q = new Queue(QUEUES.offboarding, { connection: h.ctx.producer.connection, prefix: h.prefix });
      await q.obliterate({ force: true });
      await q.close();
      await h.startWorkers();
      const cert = await waitForCertificate(tenantId);

      const { doc } = await verifyCertificate(cert.certificate);
      expect(doc.recordings.map((r: { id: string }) => r.id)).toEqual(recs.map((r) => r.id).sort());
      const audit = await auditEntries(h, tenantId);
      expect(verifyChain(audit)).toBeUndefined();
      expect(audit.filter((e) => e.action === 'tenant.deleted')).toHaveLength(1);
      for (const r of recs) expect(countAudit(audit, 'recording.deleted', r.id)).toBe(1);
      const left = await filesUnder(storageRoot(tenantId));
      expect(left.filter((f) => !f.startsWith('_custody'))).toEqual([]);
      expect(left).toContain(path.join('_custody', 'deletion-certificate.json'));
    },
    SLOW,
  );
});
