import type { DeletedRecording } from '../../db/offboarding.js';
import { type CertificateSigner, certificateSigner } from '../../keys/certificate-signer.js';

/**
 * The deletion certificate: what was deleted and when, signed so that anyone holding the
 * published public key (`GET /v1/deletion-certificates/public-key`) can check it without
 * trusting Custody's database. `auditHead` pins the tenant's audit chain as it stood when
 * the deletion completed (its last entry is `tenant.deleted`): the chain, which is kept,
 * must still contain that head.
 */
export interface DeletionCertificate {
  tenantId: string;
  requestedAt: string;
  completedAt: string;
  /** Every recording the tenant had, each deleted (at `deletedAt`), in id order. */
  recordings: {
    id: string;
    objectKey: string | null;
    location: string | null;
    storageVersion: number | null;
    deletedAt: string;
  }[];
  auditHead: { seq: number; hash: string };
  issuer: 'custody';
}

/** JWS `typ`: a verifier can refuse any other document signed by the same key. */
export const CERTIFICATE_TYP = 'custody-deletion-certificate+jws';
/** Where the copy goes in the tenant's own storage. */
export const CERTIFICATE_KEY = '_custody/deletion-certificate.json';

export function certificateDocument(input: {
  tenantId: string;
  requestedAt: Date;
  completedAt: string;
  recordings: DeletedRecording[];
  auditHead: { seq: number; hash: string };
}): DeletionCertificate {
  return {
    tenantId: input.tenantId,
    requestedAt: input.requestedAt.toISOString(),
    completedAt: input.completedAt,
    recordings: input.recordings.map((r) => ({
      id: r.id,
      objectKey: r.object_key,
      location: r.location,
      storageVersion: r.storage_version,
      deletedAt: r.deleted_at.toISOString(),
    })),
    auditHead: input.auditHead,
    issuer: 'custody',
  };
}

export async function signCertificate(
  secretsKey: Buffer,
  doc: DeletionCertificate,
): Promise<{ jws: string; kid: string }> {
  const signer: CertificateSigner = await certificateSigner(secretsKey);
  return { jws: await signer.sign(JSON.stringify(doc), CERTIFICATE_TYP), kid: signer.kid };
}

/** The JWS payload, decoded (the service signed it, so it is trusted here). */
export function certificateContent(jws: string): DeletionCertificate {
  const payload = jws.split('.')[1]!;
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as DeletionCertificate;
}

/** The file written into the tenant's storage: the signed JWS and, for reading, its content. */
export function certificateFile(jws: string, kid: string): Buffer {
  const file = {
    format: 'custody-deletion-certificate/v1',
    kid,
    jws,
    certificate: certificateContent(jws),
  };
  return Buffer.from(`${JSON.stringify(file, null, 2)}\n`, 'utf8');
}
