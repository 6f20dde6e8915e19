import { randomBytes } from 'node:crypto';
import { open, readdir } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHeader } from '../../src/crypto/index.js';
import { api, postRecording, setupTenant, waitForStatus } from '../support/client.js';
import { type Harness, startHarness } from '../support/harness.js';

const FRAME = 256 * 1024;

/** GET through node:http so a mid-stream abort is observable with the bytes received before it. */
function rawGet(url: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; aborted: boolean }>(
    (resolve, reject) => {
      const req = http.get(url, { headers }, (res) => {
        const chunks: Buffer[] = [];
        let aborted = false;
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('aborted', () => {
          aborted = true;
        });
        res.on('error', () => {
          aborted = true;
        });
        res.on('close', () =>
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            body: Buffer.concat(chunks),
            aborted: aborted || !res.complete,
          }),
        );
      });
      req.on('error', reject);
    },
  );
}

describe('playback links', () => {
  let h: Harness;
  let key: string;
  const audio = randomBytes(5 * FRAME + 777);
  let id: string;
  let url: string;

  const link = async (recordingId: string, body: Record<string, unknown> = {}) =>
    api(h, 'POST', `/v1/recordings/${recordingId}/playback-link`, { token: key, json: body });

  beforeAll(async () => {
    h = await startHarness();
    ({ key } = await setupTenant(h, 'playback'));
    id = (await postRecording(h, key, audio)).body.id;
    await waitForStatus(h, key, id, ['stored']);
    const created = await link(id, { onBehalfOf: 'agent-7' });
    expect(created.status).toBe(201);
    url = created.body.url;
  });
  afterAll(() => h?.close());

  it('is time-bounded: 15 minutes by default, or ttlSeconds', async () => {
    const created = await link(id);
    const ttl = (Date.parse(created.body.expiresAt) - Date.now()) / 1000;
    expect(ttl).toBeGreaterThan(895);
    expect(ttl).toBeLessThanOrEqual(900);
    const short = await link(id, { ttlSeconds: 60 });
    expect(Date.parse(short.body.expiresAt) - Date.now()).toBeLessThanOrEqual(60_000);
  });

  it('plays the original bytes with the headers a browser needs', async () => {
    const res = await api(h, 'GET', url, { token: null });
    expect(res.status).toBe(200);
    expect(res.bytes.equals(audio)).toBe(true);
    expect(res.headers.get('content-type')).toBe('audio/wav');
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('content-length')).toBe(String(audio.length));
  });

  it.each([
    ['start', 'bytes=0-99', 0, 99],
    ['middle', `bytes=${FRAME + 10}-${FRAME + 5000}`, FRAME + 10, FRAME + 5000],
    ['end', `bytes=${audio.length - 10}-`, audio.length - 10, audio.length - 1],
    ['suffix', 'bytes=-500', audio.length - 500, audio.length - 1],
    ['several frames', `bytes=${FRAME - 3}-${3 * FRAME + 3}`, FRAME - 3, 3 * FRAME + 3],
    [
      'past the end (clamped)',
      `bytes=${audio.length - 5}-${audio.length + 1000}`,
      audio.length - 5,
      audio.length - 1,
    ],
  ])('serves a %s range', async (_name, range, start, end) => {
    const res = await api(h, 'GET', url, { token: null, headers: { range } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/${audio.length}`);
    expect(res.bytes.equals(audio.subarray(start, end + 1))).toBe(true);
  });

  it('answers 416 to an unsatisfiable range', async () => {
    const res = await api(h, 'GET', url, { token: null, headers: { range: `bytes=${audio.length}-` } });
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe(`bytes */${audio.length}`);
    expect(res.body.code).toBe('RANGE_NOT_SATISFIABLE');
  });

  it('answers HEAD with the headers and no body', async () => {
    const full = await api(h, 'HEAD', url, { token: null });
    expect(full.status).toBe(200);
    expect(full.headers.get('content-length')).toBe(String(audio.length));
    expect(full.bytes.length).toBe(0);
    const part = await api(h, 'HEAD', url, { token: null, headers: { range: 'bytes=10-19' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 10-19/${audio.length}`);
  });

  it('refuses a tampered link (401 LINK_INVALID) and an expired one (410 LINK_EXPIRED)', async () => {
    const token = url.split('/').pop()!;
    const [header, payload, signature] = token.split('.');
    const flipped = payload!.slice(0, -2) + (payload!.at(-2) === 'A' ? 'B' : 'A') + payload!.at(-1);
    for (const bad of [
      `${header}.${flipped}.${signature}`,
      `${header}.${payload}.${signature!.slice(1)}x`,
      'garbage',
    ]) {
      const res = await api(h, 'GET', `${h.url}/v1/playback/${bad}`, { token: null });
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('LINK_INVALID');
    }
    // A genuine link, signed by the service, whose time has passed.
    const expired = await h.ctx.links.sign({
      lid: 'lnk_expired',
      t: 'playback',
      r: id,
      exp: Math.floor(Date.now() / 1000) - 1,
    });
    const res = await api(h, 'GET', `${h.url}/v1/playback/${expired}`, { token: null });
    expect(res.status).toBe(410);
    expect(res.body.code).toBe('LINK_EXPIRED');
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('refuses links to recordings that are not stored (409) and reports deletion (410)', async () => {
    const other = (await postRecording(h, key, randomBytes(1000))).body.id;
    await waitForStatus(h, key, other, ['stored']);
    const created = await link(other);
    expect((await api(h, 'DELETE', `/v1/recordings/${other}`, { token: key })).status).toBe(202);
    await waitForStatus(h, key, other, ['deleted']);
    const res = await api(h, 'GET', created.body.url, { token: null });
    expect(res.status).toBe(410);
    expect(res.body.code).toBe('RECORDING_DELETED');
    expect((await link(other)).body.code).toBe('NOT_PLAYABLE');
  });

  it('never sends plaintext of a frame whose tag does not verify', async () => {
    const victim = (await postRecording(h, key, audio)).body.id;
    await waitForStatus(h, key, victim, ['stored']);
    const victimUrl = (await link(victim)).body.url;
    const dir = path.join(h.dataDir, 'storage', 'playback', 'default');
    // The audio object (its metadata sidecar is beside it).
    const files = (await readdir(dir, { recursive: true, withFileTypes: true })).filter(
      (e) => e.name === `${victim}.esdk`,
    );
    const file = path.join(files[0]!.parentPath, files[0]!.name);
    const handle = await open(file, 'r+');
    try {
      const head = Buffer.alloc(4096);
      await handle.read(head, 0, head.length, 0);
      const { headerLength } = parseHeader(head);
      // Flip one ciphertext byte in the third frame (index 2).
      const at = headerLength + 2 * (FRAME + 32) + 4 + 12 + 100;
      const b = Buffer.alloc(1);
      await handle.read(b, 0, 1, at);
      b[0] = b[0]! ^ 0x01;
      await handle.write(b, 0, 1, at);
    } finally {
      await handle.close();
    }
    // A range inside the bad frame: the failure comes before the first byte.
    const inside = await api(h, 'GET', victimUrl, {
      token: null,
      headers: { range: `bytes=${2 * FRAME + 5}-${2 * FRAME + 50}` },
    });
    expect(inside.status).toBe(502);
    expect(inside.body.code).toBe('INTEGRITY_ERROR');
    // A range from frame 1 through frame 3: frame 1's bytes, then the connection is cut.
    const across = await rawGet(victimUrl, { range: `bytes=${FRAME}-${4 * FRAME - 1}` });
    expect(across.status).toBe(206);
    expect(across.aborted).toBe(true);
    expect(across.body.length).toBeLessThanOrEqual(FRAME);
    expect(across.body.equals(audio.subarray(FRAME, FRAME + across.body.length))).toBe(true);
  });
});
