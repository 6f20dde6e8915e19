import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildClient, CommitmentPolicy } from '@aws-crypto/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metadataJsonSchema } from '../../src/domain/recordings/metadata-document.js';
import { StorageError } from '../../src/errors.js';
import { LocalKeyProvider } from '../../src/keys/local/index.js';
import { api, setupTenant, waitForStatus } from '../support/client.js';
import type { CountingKeyring } from '../support/counting-keyring.js';
import { countingLocalKeys } from '../support/counting-providers.js';
import { GatedLocalStorage } from '../support/gated-storage.js';
import { type Harness, startHarness } from '../support/harness.js';
import { startKeyJob, waitForKeyJob } from '../support/key-jobs.js';
import {
  expectStoredExactlyOnce,
  filesUnder,
  row,
  sha256,
  spoolFileOf,
  waitUntil,
} from '../support/observe.js';
import { expectProblem } from './contract-helpers.js';

const TENANT = 'meta';
const SCHEMA_FILE = path.join(import.meta.dirname, '../../docs/schemas/recording-metadata.v1.json');

/** 8 kHz mono 16-bit PCM: `seconds` of a 440 Hz tone; `dataSize` overrides the header's data size. */
function wav(seconds: number, dataSize?: number): Buffer {
  const rate = 8000;
  const samples = Math.round(rate * seconds);
  const buf = Buffer.alloc(44 + samples * 2);
  buf.write('RIFF', 0, 'latin1');
  buf.writeUInt32LE(36 + samples * 2, 4);
  buf.write('WAVEfmt ', 8, 'latin1');
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20); // PCM
  buf.writeUInt16LE(1, 22); // mono
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28); // byte rate
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36, 'latin1');
  buf.writeUInt32LE(dataSize ?? samples * 2, 40);
  for (let i = 0; i < samples; i++)
    buf.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)), 44 + i * 2);
  return buf;
}

type Schema = {
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  minLength?: number;
  maxLength?: number;
  format?: string;
  required?: string[];
  additionalProperties?: boolean;
  properties?: Record<string, Schema>;
};

const typeOf = (v: unknown) =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v;

/** The keywords the published schema uses, checked by hand (no validator dependency); returns the problems. */
function validate(schema: Schema, v: unknown, at = '$'): string[] {
  const out: string[] = [];
  if (schema.type) {
    const types = [schema.type].flat();
    const t = typeOf(v);
    if (!types.includes(t) && !(t === 'integer' && types.includes('number'))) out.push(`${at}: ${t}`);
  }
  if ('const' in schema && v !== schema.const) out.push(`${at}: not the const`);
  if (schema.enum && !schema.enum.includes(v)) out.push(`${at}: not in enum`);
  if (typeof v === 'string') {
    if (schema.pattern && !new RegExp(schema.pattern).test(v)) out.push(`${at}: pattern`);
    if (schema.minLength !== undefined && v.length < schema.minLength) out.push(`${at}: too short`);
    if (schema.maxLength !== undefined && v.length > schema.maxLength) out.push(`${at}: too long`);
    if (schema.format === 'date-time' && Number.isNaN(Date.parse(v))) out.push(`${at}: not a date-time`);
  }
  if (typeof v === 'number' && schema.minimum !== undefined && v < schema.minimum) out.push(`${at}: < min`);
  if (schema.properties && typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    for (const k of schema.required ?? []) if (!Object.hasOwn(o, k)) out.push(`${at}.${k}: missing`);
    for (const [k, val] of Object.entries(o)) {
      const sub = schema.properties[k];
      if (sub) out.push(...validate(sub, val, `${at}.${k}`));
      else if (schema.additionalProperties === false) out.push(`${at}.${k}: not allowed`);
    }
  }
  return out;
}

describe('the metadata sidecar beside each recording (local provider)', () => {
  let h: Harness;
  let key: string;
  let counter: CountingKeyring;
  let dataDir: string;
  let keyring: ReturnType<LocalKeyProvider['keyring']>;
  let schema: Schema;
  const { decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
  // The service's data dir is the counting registry's (its `local` storage is there too).
  const root = () => path.join(dataDir, 'storage', TENANT);

  /** The tenant's objects named after recording `id`: its audio and its sidecar(s). */
  async function filesOf(id: string) {
    const mine = (await filesUnder(root())).filter((f) => path.basename(f).startsWith(`${id}.`));
    return {
      audio: mine.filter((f) => f.endsWith('.esdk') && !f.endsWith('.meta.json.esdk')),
      encrypted: mine.filter((f) => f.endsWith('.meta.json.esdk')),
      plain: mine.filter((f) => f.endsWith('.meta.json')),
    };
  }

  async function post(audio: Buffer, contentType: string, query = ''): Promise<string> {
    const res = await api(h, 'POST', `/v1/recordings?callId=call-7${query}`, {
      token: key,
      body: audio,
      headers: { 'content-type': contentType },
    });
    expect(res.status, res.bytes.toString()).toBe(202);
    await waitForStatus(h, key, res.body.id, ['stored']);
    return res.body.id;
  }

  async function setMode(mode: string) {
    const res = await api(h, 'PATCH', `/v1/tenants/${TENANT}`, { json: { metadataSidecar: mode } });
    expect(res.status, res.bytes.toString()).toBe(200);
    expect(res.body.metadataSidecar).toBe(mode);
  }

  /** Decrypts an encrypted sidecar with the official SDK; returns the document and the header. */
  async function openSidecar(file: string) {
    const { plaintext, messageHeader } = await decrypt(keyring, await readFile(path.join(root(), file)));
    return { doc: JSON.parse(plaintext.toString('utf8')), header: messageHeader };
  }

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'custody-test-'));
    const { registry, counters } = countingLocalKeys(dataDir);
    h = await startHarness({ env: { CUSTODY_DATA_DIR: dataDir }, overrides: { keyProviders: registry } });
    ({ key } = await setupTenant(h, TENANT));
    counter = counters.get(TENANT)!;
    // The counting registry derives tenant keys from the master key in its own data dir.
    const master = await readFile(path.join(dataDir, 'local-master.key'));
    keyring = new LocalKeyProvider(master, TENANT).keyring();
    schema = JSON.parse(await readFile(SCHEMA_FILE, 'utf8'));
  });
  afterAll(async () => {
    await h?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('publishes the JSON Schema: the docs file is the one served without credentials', async () => {
    expect(schema).toEqual(JSON.parse(JSON.stringify(metadataJsonSchema)));
    expect(schema).toMatchObject({ $schema: 'https://json-schema.org/draft/2020-12/schema' });
    const res = await api(h, 'GET', '/v1/schemas/recording-metadata.v1.json', { token: null });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/schema\+json/);
    expect(JSON.parse(res.bytes.toString('utf8'))).toEqual(schema);
  });

  it('a WAV: an encrypted sidecar beside the audio, same data key, one wrap, valid document with its duration', async () => {
    const audio = wav(2.5);
    counter.reset();
    const id = await post(
      audio,
      'audio/wav',
      '&agentId=agent-9&direction=inbound&startedAt=2026-01-02T03:04:05.000Z',
    );
    // One wrap for audio and sidecar together; nothing unwrapped.
    expect(counter.encryptCalls).toBe(1);
    expect(counter.decryptCalls).toBe(0);

    const files = await filesOf(id);
    expect(files.audio).toHaveLength(1);
    expect(files.encrypted).toEqual([files.audio[0]!.replace(/\.esdk$/, '.meta.json.esdk')]);
    expect(files.plain).toEqual([]);
    const sidecarBytes = await readFile(path.join(root(), files.encrypted[0]!));
    expect(sidecarBytes.includes(Buffer.from('agent-9'))).toBe(false);

    const { doc, header } = await openSidecar(files.encrypted[0]!);
    expect(validate(schema, doc)).toEqual([]);
    const view = (await api(h, 'GET', `/v1/recordings/${id}`, { token: key })).body;
    expect(doc).toEqual({
      schema: 'https://custody.dev/schemas/recording-metadata/v1',
      recordingId: id,
      tenantId: TENANT,
      callId: 'call-7',
      agentId: 'agent-9',
      direction: 'inbound',
      startedAt: '2026-01-02T03:04:05.000Z',
      receivedAt: view.createdAt,
      storedAt: view.storedAt,
      durationSeconds: 2.5,
      contentType: 'audio/wav',
      size: audio.length,
      sha256: sha256(audio),
    });
    // The audio's context (the EDKs are bound to it), and the audio's very EDKs: one data key.
    expect(header.encryptionContext).toEqual({ 'custody:tenant': TENANT, 'custody:recording': id });
    const audioMsg = await decrypt(keyring, await readFile(path.join(root(), files.audio[0]!)));
    expect(audioMsg.plaintext.equals(audio)).toBe(true);
    const edks = (hdr: typeof header) =>
      hdr.encryptedDataKeys.map((e) => Buffer.from(e.encryptedDataKey).toString('base64'));
    expect(edks(header)).toEqual(edks(audioMsg.messageHeader));
    // ... under a different message id, so HKDF gives it its own content key.
    expect(Buffer.from(header.messageId).equals(Buffer.from(audioMsg.messageHeader.messageId))).toBe(false);
  });

  it('a streaming WAV (data size 0xFFFFFFFF) takes its duration from the total size; other audio has none', async () => {
    const streamed = await post(wav(1.25, 0xffffffff), 'audio/x-wav');
    expect((await openSidecar((await filesOf(streamed)).encrypted[0]!)).doc.durationSeconds).toBe(1.25);

    const mp3 = Buffer.concat([Buffer.from('ID3'), Buffer.alloc(5000, 7)]);
    const other = await post(mp3, 'audio/mpeg');
    const { doc } = await openSidecar((await filesOf(other)).encrypted[0]!);
    expect(validate(schema, doc)).toEqual([]);
    expect(doc).toMatchObject({ durationSeconds: null, contentType: 'audio/mpeg', agentId: null });
    expect(doc).toMatchObject({ direction: null, startedAt: null, size: mp3.length });
  });

  it('per tenant: plaintext writes readable JSON, off writes none; a bad mode is a 400', async () => {
    expectProblem(
      await api(h, 'PATCH', `/v1/tenants/${TENANT}`, { json: { metadataSidecar: 'sometimes' } }),
      400,
      'VALIDATION_FAILED',
    );
    expect((await api(h, 'GET', `/v1/tenants/${TENANT}`)).body.metadataSidecar).toBe('encrypted');

    await setMode('plaintext');
    const plain = await post(wav(0.5), 'audio/wav');
    const pf = await filesOf(plain);
    expect(pf.encrypted).toEqual([]);
    expect(pf.plain).toEqual([pf.audio[0]!.replace(/\.esdk$/, '.meta.json')]);
    const doc = JSON.parse(await readFile(path.join(root(), pf.plain[0]!), 'utf8'));
    expect(validate(schema, doc)).toEqual([]);
    expect(doc).toMatchObject({ recordingId: plain, durationSeconds: 0.5 });

    await setMode('off');
    const none = await filesOf(await post(wav(0.5), 'audio/wav'));
    expect(none.audio).toHaveLength(1);
    expect([...none.encrypted, ...none.plain]).toEqual([]);
    await setMode('encrypted');
  });

  it('deleting a recording removes its sidecar with its audio', async () => {
    for (const mode of ['encrypted', 'plaintext'] as const) {
      await setMode(mode);
      const id = await post(wav(0.25), 'audio/wav');
      const before = await filesOf(id);
      expect([...before.encrypted, ...before.plain]).toHaveLength(1);
      expect((await api(h, 'DELETE', `/v1/recordings/${id}`, { token: key })).status).toBe(202);
      await waitUntil('the recording to be deleted', async () => (await row(h, id)).status === 'deleted');
      expect(await filesOf(id)).toEqual({ audio: [], encrypted: [], plain: [] });
    }
    await setMode('encrypted');
  });

  it('key jobs move the sidecar with the audio: rewrap rewrites its header in the same wrap, re-encrypt writes a fresh one', async () => {
    await setMode('encrypted');
    const audio = wav(0.75);
    const id = await post(audio, 'audio/wav');
    const original = await openSidecar((await filesOf(id)).encrypted[0]!);

    const reg = await api(h, 'PUT', `/v1/tenants/${TENANT}/storage`, { json: { provider: 'local' } });
    expect(reg.status, reg.bytes.toString()).toBe(200);
    const version = reg.body.version;
    // Every stored recording of the tenant moves onto the new version.
    const stored = await h.ctx.db.query(
      "SELECT count(*)::int AS n FROM recordings WHERE tenant_id = $1 AND status = 'stored'",
      [TENANT],
    );
    const moving: number = stored.rows[0].n;
    counter.reset();
    const rewrap = await startKeyJob(h, TENANT, { kind: 'rewrap', ratePerSecond: 200 });
    expect(await waitForKeyJob(h, TENANT, rewrap.id)).toMatchObject({
      status: 'done',
      done: moving,
      failed: 0,
    });
    // Per recording one wrap (the sidecar's header shares it) and two unwraps: the rewrap's
    // and the verification's of the new audio object; none for the sidecar.
    expect(counter.encryptCalls).toBe(moving);
    expect(counter.decryptCalls).toBe(2 * moving);

    let files = await filesOf(id);
    expect(files.audio).toHaveLength(1);
    expect(path.basename(files.audio[0]!)).toBe(`${id}.v${version}.esdk`);
    expect(files.encrypted).toEqual([files.audio[0]!.replace(/\.esdk$/, '.meta.json.esdk')]);
    const rewrapped = await openSidecar(files.encrypted[0]!);
    expect(rewrapped.doc).toEqual(original.doc);
    const audioMsg = await decrypt(keyring, await readFile(path.join(root(), files.audio[0]!)));
    const edks = (hdr: typeof audioMsg.messageHeader) =>
      hdr.encryptedDataKeys.map((e) => Buffer.from(e.encryptedDataKey).toString('base64'));
    expect(edks(rewrapped.header)).toEqual(edks(audioMsg.messageHeader));
    expect(edks(rewrapped.header)).not.toEqual(edks(original.header));

    counter.reset();
    const reenc = await startKeyJob(h, TENANT, { kind: 'reencrypt', recordingIds: [id] });
    expect(await waitForKeyJob(h, TENANT, reenc.id)).toMatchObject({ status: 'done', done: 1, failed: 0 });
    expect(counter.encryptCalls).toBe(1);
    files = await filesOf(id);
    expect(files.audio).toHaveLength(1);
    expect(path.basename(files.audio[0]!)).toBe(`${id}.v${version}.${reenc.id}.esdk`);
    expect(files.encrypted).toEqual([files.audio[0]!.replace(/\.esdk$/, '.meta.json.esdk')]);
    const fresh = await openSidecar(files.encrypted[0]!);
    expect(fresh.doc).toEqual(original.doc);
    const reencAudio = await decrypt(keyring, await readFile(path.join(root(), files.audio[0]!)));
    expect(reencAudio.plaintext.equals(audio)).toBe(true);
    expect(edks(fresh.header)).toEqual(edks(reencAudio.messageHeader));
  });
});

describe('a sidecar that cannot be written fails the transfer like the audio would', () => {
  let h: Harness;
  let key: string;
  const tenantId = 'meta-fail';
  const storage = new GatedLocalStorage(() => path.join(h.dataDir, 'storage'));
  const isSidecar = (k: string) => k.endsWith('.meta.json.esdk');
  const stored: { id: string; audio: Buffer }[] = [];

  beforeAll(async () => {
    h = await startHarness({
      env: { CUSTODY_BLOCKED_RETRY_SECONDS: '3600' },
      overrides: { storageTargets: storage.registry() },
    });
    ({ key } = await setupTenant(h, tenantId));
  });
  afterAll(async () => {
    storage.gate = undefined;
    await h?.close();
  });

  async function post(audio: Buffer): Promise<string> {
    const res = await api(h, 'POST', '/v1/recordings?callId=c', {
      token: key,
      body: audio,
      headers: { 'content-type': 'audio/wav' },
    });
    expect(res.status, res.bytes.toString()).toBe(202);
    return res.body.id;
  }

  it('refused by the tenant’s storage: blocked with the code, spool kept; a retry after the fix stores both', async () => {
    storage.gate = async (k) => {
      if (isSidecar(k)) throw new StorageError('access-denied', 'AccessDenied', 'no writes of metadata');
    };
    const audio = wav(0.5);
    const id = await post(audio);
    const blocked = await waitForStatus(h, key, id, ['blocked']);
    expect(blocked.error).toMatchObject({ code: 'AccessDenied' });
    expect(await spoolFileOf(h, tenantId, id)).toBe(true);
    expect((await row(h, id)).stored_at).toBeNull();

    storage.gate = undefined;
    expect((await api(h, 'POST', `/v1/recordings/${id}/retry`, { token: key })).status).toBe(202);
    stored.push({ id, audio });
    await expectStoredExactlyOnce(h, key, tenantId, stored);
  });

  it('a transient failure is retried: the recording ends stored once, with its sidecar', async () => {
    let failures = 0;
    storage.gate = async (k) => {
      if (isSidecar(k) && failures++ === 0) throw new StorageError('transient', 'SlowDown', 'try again');
    };
    const audio = wav(0.25);
    const id = await post(audio);
    await waitForStatus(h, key, id, ['stored']);
    expect(failures).toBeGreaterThanOrEqual(2);
    storage.gate = undefined;
    stored.push({ id, audio });
    // Each with its one audio object and its sidecar beside it, nothing else.
    await expectStoredExactlyOnce(h, key, tenantId, stored);
  });
});
