import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { buildClient, CommitmentPolicy } from '@aws-crypto/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalKeyProvider } from '../../src/keys/local/index.js';
import { api, postRecording, setupTenant, waitForStatus } from '../support/client.js';
import { type Harness, startHarness } from '../support/harness.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(path.join(e.parentPath, e.name));
  }
  return out;
}

describe('a recording’s whole journey on the local provider', () => {
  let h: Harness;
  let key: string;
  // Several frames at the default frame length, with a partial last one.
  const audio = randomBytes(3 * 1024 * 1024 + 12345);
  let id: string;

  beforeAll(async () => {
    h = await startHarness();
    ({ key } = await setupTenant(h, 'journey'));
    const posted = await postRecording(h, key, audio);
    expect(posted.status).toBe(202);
    expect(posted.body).toMatchObject({ status: 'queued', size: audio.length, sha256: sha256(audio) });
    id = posted.body.id;
    await waitForStatus(h, key, id, ['stored']);
  });
  afterAll(() => h?.close());

  it('stores ciphertext only, readable by the official AWS Encryption SDK with the raw keyring', async () => {
    const rec = (await api(h, 'GET', `/v1/recordings/${id}`, { token: key })).body;
    expect(rec.storage).toMatchObject({
      provider: 'local',
      storageVersion: 1,
      keyId: 'custody-local/tenant/journey',
    });
    const objects = await filesUnder(path.join(h.dataDir, 'storage', 'journey', 'default'));
    // The audio object and, beside it, its (encrypted) metadata sidecar.
    const audioObjects = objects.filter((f) => !f.endsWith('.meta.json.esdk'));
    expect(audioObjects).toHaveLength(1);
    expect(objects.filter((f) => f.endsWith('.meta.json.esdk'))).toEqual([
      audioObjects[0]!.replace(/\.esdk$/, '.meta.json.esdk'),
    ]);
    const stored = await readFile(audioObjects[0]!);
    // No run of the plaintext survives: check 32-byte windows from across the recording.
    for (let at = 0; at + 32 <= audio.length; at += 997 * 31)
      expect(stored.includes(audio.subarray(at, at + 32))).toBe(false);

    const master = await readFile(path.join(h.dataDir, 'local-master.key'));
    const keyring = new LocalKeyProvider(master, 'journey').keyring();
    const { decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
    const { plaintext, messageHeader } = await decrypt(keyring, stored);
    expect(sha256(plaintext)).toBe(sha256(audio));
    expect(messageHeader.encryptionContext).toMatchObject({
      'custody:tenant': 'journey',
      'custody:recording': id,
    });
    // The sidecar opens with the same keyring and describes this recording.
    const sidecar = await decrypt(
      keyring,
      await readFile(audioObjects[0]!.replace(/\.esdk$/, '.meta.json.esdk')),
    );
    expect(JSON.parse(sidecar.plaintext.toString('utf8'))).toMatchObject({
      recordingId: id,
      tenantId: 'journey',
      size: audio.length,
      sha256: sha256(audio),
    });
  });

  it('leaves the spool empty once stored', async () => {
    expect(await filesUnder(path.join(h.dataDir, 'spool'))).toEqual([]);
  });
});
