import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';

/**
 * The fake AWS KMS itself, with no transport: keys, their state, and real crypto. Both
 * the nock `KmsStandIn` and the HTTP `AwsStandIn` put their wire format around this, so
 * there is one implementation of what KMS answers.
 *
 * Every key has a random 32-byte master key. A ciphertext blob really encrypts the data
 * key: `"CKMS" ‖ u16 keyArn length ‖ keyArn ‖ IV(12) ‖ tag(16) ‖ AES-256-GCM ciphertext`,
 * with AAD = keyArn ‖ the encryption context (sorted JSON), so Decrypt with another
 * context or a tampered blob fails with `InvalidCiphertextException`, as KMS does.
 */
export const KMS_OPERATIONS = ['GenerateDataKey', 'Decrypt', 'Encrypt', 'DescribeKey'] as const;
export type KmsOperation = (typeof KMS_OPERATIONS)[number];
export type KmsKeyState = 'Enabled' | 'Disabled' | 'PendingDeletion';
export type EncryptionContext = Record<string, string>;

export const KMS_JSON_HEADERS = { 'content-type': 'application/x-amz-json-1.1' };

/** An error KMS returns: `__type` and HTTP status as AWS sends them. */
export class KmsFault extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export interface KmsRequest {
  operation: KmsOperation;
  body: Record<string, unknown>;
  keyId: string | undefined;
  encryptionContext: EncryptionContext | undefined;
}

/**
 * Decides whether the caller may use `keyArn` for `operation` (key policy, grants,
 * conditions); throws a `KmsFault` (e.g. AccessDeniedException) to refuse.
 */
export type KmsAuthorizer = (
  operation: KmsOperation,
  keyArn: string,
  context: EncryptionContext | undefined,
) => void;

interface Key {
  arn: string;
  master: Buffer;
  state: KmsKeyState;
  /** The key policy refuses everyone (simulates a revoked policy). */
  denied: boolean;
  deletionDate?: Date;
}

const MAGIC = Buffer.from('CKMS');

function aad(keyArn: string, context: EncryptionContext | undefined): Buffer {
  const sorted = Object.keys(context ?? {})
    .sort()
    .map((k) => [k, context?.[k]]);
  return Buffer.concat([Buffer.from(keyArn, 'utf8'), Buffer.from(JSON.stringify(sorted), 'utf8')]);
}

/** Parses a JSON 1.1 request; throws `UnknownOperationException` for other targets. */
export function parseKmsRequest(target: string, rawBody: unknown): KmsRequest {
  const operation = target.replace(/^TrentService\./, '') as KmsOperation;
  if (!KMS_OPERATIONS.includes(operation)) {
    throw new KmsFault('UnknownOperationException', `${target} is not supported by the stand-in`);
  }
  let body: Record<string, unknown>;
  try {
    const parsed = typeof rawBody === 'string' ? JSON.parse(rawBody || '{}') : (rawBody ?? {});
    body = parsed as Record<string, unknown>;
  } catch {
    throw new KmsFault('SerializationException', 'request body is not JSON');
  }
  const keyId = typeof body.KeyId === 'string' ? body.KeyId : undefined;
  const encryptionContext = body.EncryptionContext as EncryptionContext | undefined;
  return { operation, body, keyId, encryptionContext };
}

/** The `[status, body]` of an error reply; anything not a `KmsFault` is a KMSInternalException. */
export function kmsErrorReply(err: unknown): [number, { __type: string; message: string }] {
  if (err instanceof KmsFault) return [err.status, { __type: err.type, message: err.message }];
  return [500, { __type: 'KMSInternalException', message: String(err) }];
}

export class KmsState {
  readonly #keys = new Map<string, Key>();

  createKey(region = 'us-east-1', account = '111122223333'): string {
    const arn = `arn:aws:kms:${region}:${account}:key/${randomUUID()}`;
    this.#keys.set(arn, { arn, master: randomBytes(32), state: 'Enabled', denied: false });
    return arn;
  }

  /** Back to Enabled (also cancels a scheduled deletion). Does not lift `deny`. */
  enable(arn: string): void {
    const key = this.#admin(arn);
    key.state = 'Enabled';
    delete key.deletionDate;
  }

  disable(arn: string): void {
    this.#admin(arn).state = 'Disabled';
  }

  /** PendingDeletion: cryptographic use fails with KMSInvalidStateException. */
  scheduleDeletion(arn: string, days = 30): void {
    const key = this.#admin(arn);
    key.state = 'PendingDeletion';
    key.deletionDate = new Date(Date.now() + days * 86_400_000);
  }

  /** CancelKeyDeletion: as in KMS, the key comes back Disabled (enable it to use it again). */
  cancelDeletion(arn: string): void {
    const key = this.#admin(arn);
    if (key.state !== 'PendingDeletion') throw new Error(`stand-in key ${arn} is not pending deletion`);
    key.state = 'Disabled';
    delete key.deletionDate;
  }

  /** The key policy refuses every caller, owner included (AccessDeniedException). */
  deny(arn: string): void {
    this.#admin(arn).denied = true;
  }

  allow(arn: string): void {
    this.#admin(arn).denied = false;
  }

  state(arn: string): KmsKeyState {
    return this.#admin(arn).state;
  }

  /** Runs one request; throws a `KmsFault` for every error KMS would return. */
  execute(req: KmsRequest, authorize?: KmsAuthorizer): Record<string, unknown> {
    const { operation, body, keyId, encryptionContext: context } = req;
    switch (operation) {
      case 'GenerateDataKey': {
        const key = this.#usable(operation, keyId, context, authorize);
        const bytes = typeof body.NumberOfBytes === 'number' ? body.NumberOfBytes : 32;
        const dataKey = randomBytes(bytes);
        return {
          KeyId: key.arn,
          Plaintext: dataKey.toString('base64'),
          CiphertextBlob: this.#seal(key, dataKey, context).toString('base64'),
        };
      }
      case 'Encrypt': {
        const key = this.#usable(operation, keyId, context, authorize);
        const plaintext = Buffer.from(String(body.Plaintext ?? ''), 'base64');
        return { KeyId: key.arn, CiphertextBlob: this.#seal(key, plaintext, context).toString('base64') };
      }
      case 'Decrypt': {
        const blob = Buffer.from(String(body.CiphertextBlob ?? ''), 'base64');
        const { key, plaintext } = this.#open(blob, keyId, context, authorize);
        return {
          KeyId: key.arn,
          Plaintext: plaintext.toString('base64'),
          EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
        };
      }
      case 'DescribeKey': {
        // Works whatever the key state (that is what DescribeKey is for), but not when denied.
        const key = this.#authorized(operation, keyId, undefined, authorize);
        return {
          KeyMetadata: {
            Arn: key.arn,
            KeyId: key.arn.split('/').pop(),
            AWSAccountId: key.arn.split(':')[4],
            Enabled: key.state === 'Enabled',
            KeyState: key.state,
            KeyUsage: 'ENCRYPT_DECRYPT',
            KeySpec: 'SYMMETRIC_DEFAULT',
            KeyManager: 'CUSTOMER',
            Origin: 'AWS_KMS',
            ...(key.deletionDate ? { DeletionDate: key.deletionDate.getTime() / 1000 } : {}),
          },
        };
      }
    }
  }

  /** A key by ARN or bare key id, for the stand-in's own admin calls (throws a plain Error). */
  #admin(arn: string): Key {
    const key = this.#find(arn);
    if (!key) throw new Error(`no stand-in key ${arn}`);
    return key;
  }

  #find(keyId: string | undefined): Key | undefined {
    if (keyId === undefined) return undefined;
    const exact = this.#keys.get(keyId);
    if (exact) return exact;
    for (const key of this.#keys.values()) if (key.arn.endsWith(`:key/${keyId}`)) return key;
    return undefined;
  }

  /** Exists, and the caller may use it: NotFound first, then AccessDenied (as KMS orders them). */
  #authorized(
    operation: KmsOperation,
    keyId: string | undefined,
    context: EncryptionContext | undefined,
    authorize: KmsAuthorizer | undefined,
  ): Key {
    const key = this.#find(keyId);
    if (!key) throw new KmsFault('NotFoundException', `Key '${keyId}' does not exist`);
    if (key.denied) {
      throw new KmsFault(
        'AccessDeniedException',
        `User is not authorized to use ${key.arn} (secret policy detail)`,
      );
    }
    authorize?.(operation, key.arn, context);
    return key;
  }

  /** Authorized and in a state that allows cryptographic operations. */
  #usable(
    operation: KmsOperation,
    keyId: string | undefined,
    context: EncryptionContext | undefined,
    authorize: KmsAuthorizer | undefined,
  ): Key {
    const key = this.#authorized(operation, keyId, context, authorize);
    if (key.state === 'Disabled') throw new KmsFault('DisabledException', `${key.arn} is disabled.`);
    if (key.state === 'PendingDeletion') {
      throw new KmsFault('KMSInvalidStateException', `${key.arn} is pending deletion.`);
    }
    return key;
  }

  #seal(key: Key, plaintext: Buffer, context: EncryptionContext | undefined): Buffer {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key.master, iv);
    cipher.setAAD(aad(key.arn, context));
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const id = Buffer.from(key.arn, 'utf8');
    const len = Buffer.alloc(2);
    len.writeUInt16BE(id.length);
    return Buffer.concat([MAGIC, len, id, iv, cipher.getAuthTag(), ct]);
  }

  #open(
    blob: Buffer,
    requestedKeyId: string | undefined,
    context: EncryptionContext | undefined,
    authorize: KmsAuthorizer | undefined,
  ): { key: Key; plaintext: Buffer } {
    const invalid = () => new KmsFault('InvalidCiphertextException', 'The ciphertext is invalid.');
    if (blob.length < 6 || !blob.subarray(0, 4).equals(MAGIC)) throw invalid();
    const idLen = blob.readUInt16BE(4);
    if (blob.length < 6 + idLen + 28) throw invalid();
    const arn = blob.subarray(6, 6 + idLen).toString('utf8');
    if (requestedKeyId !== undefined && this.#find(requestedKeyId)?.arn !== arn) {
      throw new KmsFault(
        'IncorrectKeyException',
        'The key ID in the request does not identify the key used.',
      );
    }
    const key = this.#usable('Decrypt', arn, context, authorize);
    const iv = blob.subarray(6 + idLen, 18 + idLen);
    const tag = blob.subarray(18 + idLen, 34 + idLen);
    const decipher = createDecipheriv('aes-256-gcm', key.master, iv);
    decipher.setAAD(aad(arn, context));
    decipher.setAuthTag(tag);
    try {
      return {
        key,
        plaintext: Buffer.concat([decipher.update(blob.subarray(34 + idLen)), decipher.final()]),
      };
    } catch {
      throw invalid();
    }
  }
}
