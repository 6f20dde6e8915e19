import { randomBytes } from 'node:crypto';
import { CompactSign, compactVerify, decodeProtectedHeader } from 'jose';
import type { LinkSigningKey } from '../config/index.js';

/** What a playback link grants: one recording of one tenant until `exp`. */
export interface LinkClaims {
  /** link id: the audit trail and first-use record hang off it */
  lid: string;
  t: string;
  r: string;
  /** expiry, seconds since the epoch */
  exp: number;
}

export type LinkVerdict = { ok: true; claims: LinkClaims } | { ok: false; reason: 'invalid' | 'expired' };

/**
 * HS256 JWS (jose) over the claims, with the signing key's id in the protected header:
 * every API pod holds every key, and a rotated-out key keeps verifying live links while
 * it stays in `CUSTODY_LINK_SIGNING_KEYS`.
 */
export class LinkSigner {
  private readonly byKid: Map<string, Uint8Array>;

  constructor(private readonly keys: LinkSigningKey[]) {
    if (keys.length === 0) throw new Error('at least one link signing key is required');
    this.byKid = new Map(keys.map((k) => [k.kid, new Uint8Array(k.key)]));
  }

  static newLinkId(): string {
    return `lnk_${randomBytes(12).toString('base64url')}`;
  }

  async sign(claims: LinkClaims): Promise<string> {
    const { kid, key } = this.keys[0]!;
    return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
      .setProtectedHeader({ alg: 'HS256', kid })
      .sign(new Uint8Array(key));
  }

  /** The signature is checked first; only a genuine link can be reported as expired. */
  async verify(token: string, now = Date.now()): Promise<LinkVerdict> {
    let kid: string | undefined;
    try {
      const header = decodeProtectedHeader(token);
      kid = typeof header.kid === 'string' ? header.kid : undefined;
      if (header.alg !== 'HS256') return { ok: false, reason: 'invalid' };
    } catch {
      return { ok: false, reason: 'invalid' };
    }
    const key = kid === undefined ? undefined : this.byKid.get(kid);
    if (!key) return { ok: false, reason: 'invalid' };
    let claims: LinkClaims;
    try {
      const { payload } = await compactVerify(token, key, { algorithms: ['HS256'] });
      claims = JSON.parse(new TextDecoder().decode(payload)) as LinkClaims;
    } catch {
      return { ok: false, reason: 'invalid' };
    }
    if (
      typeof claims.lid !== 'string' ||
      typeof claims.t !== 'string' ||
      typeof claims.r !== 'string' ||
      typeof claims.exp !== 'number'
    ) {
      return { ok: false, reason: 'invalid' };
    }
    if (claims.exp * 1000 <= now) return { ok: false, reason: 'expired' };
    return { ok: true, claims };
  }
}

/** Tokens are base64url segments; anything else is rejected before any parsing. */
export const looksLikeToken = (s: string) =>
  /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(s) && s.length < 2048;
