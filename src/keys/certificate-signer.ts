import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { CompactSign, calculateJwkThumbprint, type JWK } from 'jose';
import { deriveServiceKey } from './service-keys.js';

/**
 * PKCS#8 DER prefix of an Ed25519 private key (RFC 8410): SEQUENCE { version 0,
 * AlgorithmIdentifier { 1.3.101.112 }, OCTET STRING { OCTET STRING (32-byte seed) } }.
 * Node builds the key (and its public half) from the seed this way with no extra library.
 */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export interface PublicJwk extends JWK {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  alg: 'EdDSA';
  use: 'sig';
}

/**
 * Signs deletion certificates with Ed25519. The key is derived from `CUSTODY_SECRETS_KEY`
 * (purpose `certificates`), so every process of a deployment signs with the same key and
 * none is stored anywhere; the public half is published so anyone can verify without
 * trusting Custody's database. `kid` is the RFC 7638 thumbprint of the public key: a
 * rotated secrets key yields a new kid, and certificates name the key that signed them.
 */
export class CertificateSigner {
  private constructor(
    private readonly privateKey: KeyObject,
    readonly publicJwk: PublicJwk,
  ) {}

  static async fromSecretsKey(secretsKey: Buffer): Promise<CertificateSigner> {
    const seed = deriveServiceKey(secretsKey, 'certificates');
    const der = Buffer.concat([ED25519_PKCS8_PREFIX, seed]);
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    } finally {
      // The KeyObject holds its own copy; leave no loose seed on the heap.
      seed.fill(0);
      der.fill(0);
    }
    const exported = createPublicKey(privateKey).export({ format: 'jwk' }) as { x: string };
    const base = { kty: 'OKP', crv: 'Ed25519', x: exported.x } as const;
    const kid = await calculateJwkThumbprint(base, 'sha256');
    return new CertificateSigner(privateKey, { ...base, kid, alg: 'EdDSA', use: 'sig' });
  }

  get kid(): string {
    return this.publicJwk.kid;
  }

  /** Compact JWS over the exact bytes of `payload` (JSON), `typ` saying what it is. */
  sign(payload: string, typ: string): Promise<string> {
    return new CompactSign(new TextEncoder().encode(payload))
      .setProtectedHeader({ alg: 'EdDSA', kid: this.kid, typ, cty: 'json' })
      .sign(this.privateKey);
  }
}

// One signer per secrets key (per process): deriving costs little, but not on every request.
const signers = new WeakMap<Buffer, Promise<CertificateSigner>>();

export function certificateSigner(secretsKey: Buffer): Promise<CertificateSigner> {
  let s = signers.get(secretsKey);
  if (!s) {
    s = CertificateSigner.fromSecretsKey(secretsKey);
    signers.set(secretsKey, s);
  }
  return s;
}
