import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LinkSigner } from '../../../src/domain/link-signer.js';

const key = (kid: string) => ({ kid, key: randomBytes(32) });
const claims = (exp = Math.floor(Date.now() / 1000) + 60) => ({ lid: 'lnk_1', t: 'acme', r: 'rec_1', exp });

describe('playback link signatures', () => {
  it('verifies its own links and keeps verifying after the signing key rotates', async () => {
    const old = key('old');
    const before = new LinkSigner([old]);
    const token = await before.sign(claims());
    const after = new LinkSigner([key('new'), old]);
    expect(await after.verify(token)).toEqual({
      ok: true,
      claims: claims(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).exp),
    });
    expect(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString())).toMatchObject({
      alg: 'HS256',
      kid: 'old',
    });
  });

  it('checks the signature before the expiry', async () => {
    const signer = new LinkSigner([key('k')]);
    const expired = await signer.sign(claims(Math.floor(Date.now() / 1000) - 1));
    expect(await signer.verify(expired)).toEqual({ ok: false, reason: 'expired' });
    const forged = await new LinkSigner([key('k')]).sign(claims(Math.floor(Date.now() / 1000) - 1));
    expect(await signer.verify(forged)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('refuses unknown key ids, other algorithms and junk', async () => {
    const signer = new LinkSigner([key('k')]);
    const other = await new LinkSigner([key('x')]).sign(claims());
    expect((await signer.verify(other)).ok).toBe(false);
    const none = `${Buffer.from('{"alg":"none","kid":"k"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims())).toString('base64url')}.`;
    expect((await signer.verify(none)).ok).toBe(false);
    expect((await signer.verify('a.b.c')).ok).toBe(false);
  });
});
