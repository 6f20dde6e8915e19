/** A playback-link signing key; `kid` travels in each link so keys rotate without breaking live links. */
export interface LinkSigningKey {
  kid: string;
  key: Buffer;
}

const KID = /^[A-Za-z0-9_-]{1,32}$/;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** Parses `kid:base64key[,kid:base64key…]`; the first key signs, all verify. */
export function parseLinkSigningKeys(value: string): { keys?: LinkSigningKey[]; problem?: string } {
  const keys: LinkSigningKey[] = [];
  for (const part of value
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const colon = part.indexOf(':');
    const kid = part.slice(0, colon);
    const encoded = part.slice(colon + 1);
    if (colon < 1 || !KID.test(kid))
      return { problem: 'each entry must be kid:base64key with kid [A-Za-z0-9_-]{1,32}' };
    if (!BASE64.test(encoded)) return { problem: `key "${kid}" is not base64` };
    const key = Buffer.from(encoded, 'base64');
    if (key.length < 32) return { problem: `key "${kid}" must decode to at least 32 bytes` };
    if (keys.some((k) => k.kid === kid)) return { problem: `key id "${kid}" appears twice` };
    keys.push({ kid, key });
  }
  if (keys.length === 0) return { problem: 'no keys given' };
  return { keys };
}

/** Parses a base64 value that must decode to exactly 32 bytes. */
export function parseKey32(value: string): { key?: Buffer; problem?: string } {
  if (!BASE64.test(value)) return { problem: 'must be base64' };
  const key = Buffer.from(value, 'base64');
  if (key.length !== 32) return { problem: `must decode to exactly 32 bytes (got ${key.length})` };
  return { key };
}
