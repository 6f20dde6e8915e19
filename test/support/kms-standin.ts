import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import nock from 'nock';

/**
 * A stateful AWS KMS stand-in on nock (JSON 1.1, `X-Amz-Target: TrentService.<Op>`).
 *
 * Every key has a random 32-byte master key. A ciphertext blob really encrypts the data
 * key: `"CKMS" ‖ u16 keyId length ‖ keyId ‖ IV(12) ‖ tag(16) ‖ AES-256-GCM ciphertext`,
 * with AAD = keyId ‖ the encryption context (sorted JSON), so Decrypt with another
 * context or a tampered blob fails with `InvalidCiphertextException`, as KMS does.
 */
export type KmsOperation = 'GenerateDataKey' | 'Decrypt' | 'Encrypt' | 'DescribeKey';

export interface KmsCall {
  operation: KmsOperation;
  keyId: string | undefined;
  encryptionContext: Record<string, string> | undefined;
}

interface StandInKey {
  arn: string;
  master: Buffer;
  state: 'enabled' | 'disabled' | 'denied';
}

const MAGIC = Buffer.from('CKMS');
const OPERATIONS: readonly KmsOperation[] = ['GenerateDataKey', 'Decrypt', 'Encrypt', 'DescribeKey'];
const JSON_HEADERS = { 'content-type': 'application/x-amz-json-1.1' };

class KmsFault extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

function aad(keyId: string, context: Record<string, string> | undefined): Buffer {
  const sorted = Object.keys(context ?? {})
    .sort()
    .map((k) => [k, context?.[k]]);
  return Buffer.concat([Buffer.from(keyId, 'utf8'), Buffer.from(JSON.stringify(sorted), 'utf8')]);
}

export class KmsStandIn {
  readonly calls: KmsCall[] = [];
  readonly counts: Record<KmsOperation, number> = {
    GenerateDataKey: 0,
    Decrypt: 0,
    Encrypt: 0,
    DescribeKey: 0,
  };
  readonly #keys = new Map<string, StandInKey>();
  #scope: nock.Scope | undefined;

  constructor(
    /** Origin to intercept; default: every `https://kms.<region>.amazonaws.com`. */
    readonly origin: string | RegExp = /^https:\/\/kms\.[a-z0-9-]+\.amazonaws\.com(:443)?$/,
  ) {}

  /** Installs the interceptors and blocks the network except loopback. */
  start(): this {
    nock.disableNetConnect();
    nock.enableNetConnect(/^(127\.0\.0\.1|localhost)(:\d+)?$/);
    const standIn = this;
    this.#scope = nock(this.origin)
      .persist()
      .post('/')
      .reply(function (_uri, body) {
        const target = String(this.req.headers['x-amz-target'] ?? '');
        return standIn.#handle(target, body);
      });
    return this;
  }

  stop(): void {
    this.#scope?.persist(false);
    nock.cleanAll();
    nock.enableNetConnect();
  }

  createKey(region = 'us-east-1', account = '111122223333'): string {
    const arn = `arn:aws:kms:${region}:${account}:key/${randomUUID()}`;
    this.#keys.set(arn, { arn, master: randomBytes(32), state: 'enabled' });
    return arn;
  }

  disable(arn: string): void {
    this.#key(arn).state = 'disabled';
  }

  deny(arn: string): void {
    this.#key(arn).state = 'denied';
  }

  enable(arn: string): void {
    this.#key(arn).state = 'enabled';
  }

  callsOf(operation: KmsOperation): KmsCall[] {
    return this.calls.filter((c) => c.operation === operation);
  }

  resetCounts(): void {
    this.calls.length = 0;
    for (const op of OPERATIONS) this.counts[op] = 0;
  }

  #key(arn: string): StandInKey {
    const key = this.#keys.get(arn);
    if (!key) throw new Error(`no stand-in key ${arn}`);
    return key;
  }

  #handle(target: string, rawBody: unknown): [number, Record<string, unknown>, Record<string, string>] {
    try {
      const operation = target.replace(/^TrentService\./, '') as KmsOperation;
      if (!OPERATIONS.includes(operation)) throw new KmsFault('UnsupportedOperationException', target);
      const body = (typeof rawBody === 'string' ? JSON.parse(rawBody || '{}') : (rawBody ?? {})) as Record<
        string,
        unknown
      >;
      const keyId = typeof body.KeyId === 'string' ? body.KeyId : undefined;
      const encryptionContext = body.EncryptionContext as Record<string, string> | undefined;
      this.counts[operation]++;
      this.calls.push({ operation, keyId, encryptionContext });
      return [200, this.#dispatch(operation, body, keyId, encryptionContext), JSON_HEADERS];
    } catch (err) {
      if (err instanceof KmsFault) return [400, { __type: err.type, message: err.message }, JSON_HEADERS];
      return [500, { __type: 'KMSInternalException', message: String(err) }, JSON_HEADERS];
    }
  }

  #usable(keyId: string | undefined): StandInKey {
    const key = keyId === undefined ? undefined : this.#keys.get(keyId);
    if (!key) throw new KmsFault('NotFoundException', `Key '${keyId}' does not exist`);
    if (key.state === 'denied') {
      throw new KmsFault(
        'AccessDeniedException',
        `User is not authorized to use ${key.arn} (secret policy detail)`,
      );
    }
    if (key.state === 'disabled') throw new KmsFault('DisabledException', `${key.arn} is disabled.`);
    return key;
  }

  #seal(key: StandInKey, plaintext: Buffer, context: Record<string, string> | undefined): Buffer {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key.master, iv);
    cipher.setAAD(aad(key.arn, context));
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const id = Buffer.from(key.arn, 'utf8');
    const len = Buffer.alloc(2);
    len.writeUInt16BE(id.length);
    return Buffer.concat([MAGIC, len, id, iv, cipher.getAuthTag(), ct]);
  }

  #open(blob: Buffer, requestedKeyId: string | undefined, context: Record<string, string> | undefined) {
    const invalid = () => new KmsFault('InvalidCiphertextException', 'The ciphertext is invalid.');
    if (blob.length < 6 || !blob.subarray(0, 4).equals(MAGIC)) throw invalid();
    const idLen = blob.readUInt16BE(4);
    if (blob.length < 6 + idLen + 28) throw invalid();
    const arn = blob.subarray(6, 6 + idLen).toString('utf8');
    if (requestedKeyId !== undefined && requestedKeyId !== arn) {
      throw new KmsFault(
        'IncorrectKeyException',
        'The key ID in the request does not identify the key used.',
      );
    }
    const key = this.#usable(arn);
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

  #dispatch(
    operation: KmsOperation,
    body: Record<string, unknown>,
    keyId: string | undefined,
    context: Record<string, string> | undefined,
  ): Record<string, unknown> {
    switch (operation) {
      case 'GenerateDataKey': {
        const key = this.#usable(keyId);
        const bytes = typeof body.NumberOfBytes === 'number' ? body.NumberOfBytes : 32;
        const dataKey = randomBytes(bytes);
        return {
          KeyId: key.arn,
          Plaintext: dataKey.toString('base64'),
          CiphertextBlob: this.#seal(key, dataKey, context).toString('base64'),
        };
      }
      case 'Encrypt': {
        const key = this.#usable(keyId);
        const plaintext = Buffer.from(String(body.Plaintext ?? ''), 'base64');
        return { KeyId: key.arn, CiphertextBlob: this.#seal(key, plaintext, context).toString('base64') };
      }
      case 'Decrypt': {
        const blob = Buffer.from(String(body.CiphertextBlob ?? ''), 'base64');
        const { key, plaintext } = this.#open(blob, keyId, context);
        return {
          KeyId: key.arn,
          Plaintext: plaintext.toString('base64'),
          EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
        };
      }
      case 'DescribeKey': {
        const key = keyId === undefined ? undefined : this.#keys.get(keyId);
        if (!key) throw new KmsFault('NotFoundException', `Key '${keyId}' does not exist`);
        return {
          KeyMetadata: {
            Arn: key.arn,
            KeyId: key.arn.split('/').pop(),
            Enabled: key.state !== 'disabled',
            KeyState: key.state === 'disabled' ? 'Disabled' : 'Enabled',
            KeyUsage: 'ENCRYPT_DECRYPT',
            KeySpec: 'SYMMETRIC_DEFAULT',
          },
        };
      }
    }
  }
}
