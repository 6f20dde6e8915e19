import nock from 'nock';
import {
  type EncryptionContext,
  KMS_JSON_HEADERS,
  KMS_OPERATIONS,
  type KmsOperation,
  KmsState,
  kmsErrorReply,
  parseKmsRequest,
} from './kms-state.js';

export type { KmsOperation } from './kms-state.js';

export interface KmsCall {
  operation: KmsOperation;
  keyId: string | undefined;
  encryptionContext: EncryptionContext | undefined;
}

/**
 * A stateful AWS KMS stand-in on nock (JSON 1.1, `X-Amz-Target: TrentService.<Op>`), for
 * tests that run in one process. The KMS itself (keys, state, real AES-GCM wrapping
 * bound to the encryption context) is `KmsState`; this class is only the nock transport
 * and the call log. For other processes use `startAwsStandIn` (a real HTTP server).
 */
export class KmsStandIn {
  readonly calls: KmsCall[] = [];
  readonly counts: Record<KmsOperation, number> = {
    GenerateDataKey: 0,
    Decrypt: 0,
    Encrypt: 0,
    DescribeKey: 0,
  };
  readonly kms = new KmsState();
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
    return this.kms.createKey(region, account);
  }

  disable(arn: string): void {
    this.kms.disable(arn);
  }

  scheduleDeletion(arn: string): void {
    this.kms.scheduleDeletion(arn);
  }

  /** CancelKeyDeletion: the key is Disabled afterwards, as in KMS. */
  cancelDeletion(arn: string): void {
    this.kms.cancelDeletion(arn);
  }

  deny(arn: string): void {
    this.kms.deny(arn);
  }

  /** Enabled again, and no longer denied. */
  enable(arn: string): void {
    this.kms.enable(arn);
    this.kms.allow(arn);
  }

  callsOf(operation: KmsOperation): KmsCall[] {
    return this.calls.filter((c) => c.operation === operation);
  }

  resetCounts(): void {
    this.calls.length = 0;
    for (const op of KMS_OPERATIONS) this.counts[op] = 0;
  }

  #handle(target: string, rawBody: unknown): [number, unknown, Record<string, string>] {
    try {
      const req = parseKmsRequest(target, rawBody);
      this.counts[req.operation]++;
      this.calls.push({
        operation: req.operation,
        keyId: req.keyId,
        encryptionContext: req.encryptionContext,
      });
      return [200, this.kms.execute(req), KMS_JSON_HEADERS];
    } catch (err) {
      const [status, body] = kmsErrorReply(err);
      return [status, body, KMS_JSON_HEADERS];
    }
  }
}
