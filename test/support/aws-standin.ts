import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type EncryptionContext,
  KMS_JSON_HEADERS,
  KMS_OPERATIONS,
  type KmsAuthorizer,
  KmsFault,
  type KmsOperation,
  KmsState,
  kmsErrorReply,
  parseKmsRequest,
} from './kms-state.js';
import {
  assumedRoleArn,
  parseAssumeRole,
  type StandInRole,
  StsFault,
  type StsSession,
  StsState,
  stsErrorXml,
} from './sts-state.js';

/**
 * STS + KMS on one real HTTP server on 127.0.0.1, for tests, spawned workers, the CLI and
 * benchmarks alike: point `AWS_ENDPOINT_URL_STS` / `AWS_ENDPOINT_URL_KMS` at `endpoint`
 * (see `env()`). State is real (roles with ExternalId trust, sessions, keys, grants with
 * the `custody:tenant` context condition) and errors have AWS's wire shapes, so the SDK
 * raises the same exception names as against AWS.
 */
export type AwsOperation = 'AssumeRole' | KmsOperation;
export const AWS_OPERATIONS: readonly AwsOperation[] = ['AssumeRole', ...KMS_OPERATIONS];

export interface AssumeRoleCall {
  operation: 'AssumeRole';
  roleArn: string | undefined;
  externalId: string | undefined;
  roleSessionName: string | undefined;
  durationSeconds: number;
}

export interface KmsCallRecord {
  operation: KmsOperation;
  keyId: string | undefined;
  encryptionContext: EncryptionContext | undefined;
  /** The role whose session signed the call; undefined for long-term (owner) credentials. */
  callerRole: string | undefined;
  /** Region of the SigV4 credential scope (the client's region). */
  region: string | undefined;
}

export type AwsCall = AssumeRoleCall | KmsCallRecord;

export interface AwsStandInEnv {
  AWS_ENDPOINT_URL_STS: string;
  AWS_ENDPOINT_URL_KMS: string;
  AWS_ACCESS_KEY_ID: string;
  AWS_SECRET_ACCESS_KEY: string;
  AWS_REGION: string;
}

export interface AwsStandInOptions {
  /** Clock for session expiry; default `Date.now`. */
  now?: () => number;
}

/** The connector's own long-term identity, as the default credential chain would read it. */
const CONNECTOR_ACCESS_KEY_ID = 'connector-access-key';
const CONNECTOR_SECRET = 'connector-secret';
const CONNECTOR_ARN = 'arn:aws:iam::999999999999:user/connector';

/** The caller of one request: long-term credentials (`session` undefined) or an STS session. */
interface Caller {
  session: StsSession | undefined;
  region: string | undefined;
}

class AuthFault extends Error {
  constructor(
    readonly kind: 'missing' | 'invalid' | 'expired',
    message: string,
  ) {
    super(message);
  }
}

/** HTTP status AWS uses for an injected error type (throttling is a 400, as in AWS). */
function faultStatus(operation: AwsOperation, type: string): number {
  if (/Unavailable|Timeout/.test(type)) return 503;
  if (/Internal/.test(type)) return 500;
  if (operation === 'AssumeRole' && type === 'AccessDenied') return 403;
  return 400;
}

export class AwsStandIn {
  readonly counts = Object.fromEntries(AWS_OPERATIONS.map((op) => [op, 0])) as Record<AwsOperation, number>;
  readonly calls: AwsCall[] = [];
  readonly kms = new KmsState();
  readonly sts: StsState;
  readonly #grants = new Map<string, Set<string>>();
  readonly #faults = new Map<AwsOperation, string[]>();
  readonly #server = createServer((req, res) => {
    this.#serve(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err));
    });
  });
  #endpoint = '';

  constructor(options: AwsStandInOptions = {}) {
    this.sts = new StsState(options.now);
  }

  /** Listens on 127.0.0.1, random port. Use `startAwsStandIn()`. */
  async listen(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => resolve());
    });
    this.#endpoint = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  get endpoint(): string {
    return this.#endpoint;
  }

  env(): AwsStandInEnv {
    return {
      AWS_ENDPOINT_URL_STS: this.#endpoint,
      AWS_ENDPOINT_URL_KMS: this.#endpoint,
      AWS_ACCESS_KEY_ID: CONNECTOR_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: CONNECTOR_SECRET,
      AWS_REGION: 'us-east-1',
    };
  }

  async stop(): Promise<void> {
    // SDK clients keep connections alive; close them or `close()` waits for their timeout.
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  // --- STS -------------------------------------------------------------------------------

  addRole(role: StandInRole): void {
    this.sts.addRole(role);
  }

  denyRole(roleArn: string): void {
    this.sts.denyRole(roleArn);
  }

  allowRole(roleArn: string): void {
    this.sts.allowRole(roleArn);
  }

  expireSessions(): void {
    this.sts.expireSessions();
  }

  // --- KMS -------------------------------------------------------------------------------

  createKey(region = 'us-east-1', account = '111122223333'): string {
    return this.kms.createKey(region, account);
  }

  enable(arn: string): void {
    this.kms.enable(arn);
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

  /** The key policy refuses everyone, owner included; `allow` lifts it. */
  deny(arn: string): void {
    this.kms.deny(arn);
  }

  allow(arn: string): void {
    this.kms.allow(arn);
  }

  /**
   * Key policy statement for `roleArn`'s sessions, with the condition
   * `kms:EncryptionContext:custody:tenant` = the role's tenantId on cryptographic calls.
   */
  grantRole(keyArn: string, roleArn: string): void {
    this.kms.state(keyArn); // throws for an unknown key
    const roles = this.#grants.get(keyArn) ?? new Set<string>();
    roles.add(roleArn);
    this.#grants.set(keyArn, roles);
  }

  // --- faults and counters ---------------------------------------------------------------

  /** The next `count` calls of `operation` fail with `errorType` (after being counted). */
  failNext(operation: AwsOperation, errorType: string, count = 1): void {
    const queue = this.#faults.get(operation) ?? [];
    for (let i = 0; i < count; i++) queue.push(errorType);
    this.#faults.set(operation, queue);
  }

  callsOf(operation: 'AssumeRole'): AssumeRoleCall[];
  callsOf(operation: KmsOperation): KmsCallRecord[];
  callsOf(operation: AwsOperation): AwsCall[] {
    return this.calls.filter((c) => c.operation === operation);
  }

  resetCounts(): void {
    this.calls.length = 0;
    for (const op of AWS_OPERATIONS) this.counts[op] = 0;
  }

  // --- transport -------------------------------------------------------------------------

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const target = req.headers['x-amz-target'];
    if (typeof target === 'string' && target.startsWith('TrentService.')) {
      const [status, reply] = this.#kms(req, target, body);
      res.writeHead(status, { ...KMS_JSON_HEADERS, 'x-amzn-requestid': randomUUID() });
      res.end(JSON.stringify(reply));
      return;
    }
    const [status, reply] = this.#sts(req, new URLSearchParams(body));
    res.writeHead(status, { 'content-type': 'text/xml' });
    res.end(reply);
  }

  #kms(req: IncomingMessage, target: string, body: string): [number, unknown] {
    try {
      const request = parseKmsRequest(target, body);
      const { operation } = request;
      this.counts[operation]++;
      const record: KmsCallRecord = {
        operation,
        keyId: request.keyId,
        encryptionContext: request.encryptionContext,
        callerRole: undefined,
        region: undefined,
      };
      this.calls.push(record);
      const injected = this.#takeFault(operation);
      if (injected) throw new KmsFault(injected, 'injected by failNext', faultStatus(operation, injected));
      const caller = this.#authenticateKms(req);
      record.callerRole = caller.session?.role.roleArn;
      record.region = caller.region;
      return [200, this.kms.execute(request, caller.session && this.#authorizer(caller.session))];
    } catch (err) {
      return kmsErrorReply(err);
    }
  }

  #sts(req: IncomingMessage, form: URLSearchParams): [number, string] {
    try {
      const action = form.get('Action');
      if (action !== 'AssumeRole') throw new StsFault('InvalidAction', `Could not find operation ${action}`);
      const input = parseAssumeRole(form);
      this.counts.AssumeRole++;
      this.calls.push({ operation: 'AssumeRole', ...input });
      const injected = this.#takeFault('AssumeRole');
      if (injected) throw new StsFault(injected, 'injected by failNext', faultStatus('AssumeRole', injected));
      const caller = this.#authenticateSts(req);
      return [
        200,
        this.sts.assumeRole(input, caller.session ? assumedRoleArn(caller.session) : CONNECTOR_ARN),
      ];
    } catch (err) {
      if (err instanceof StsFault) return [err.status, stsErrorXml(err.code, err.message, err.status)];
      return [500, stsErrorXml('InternalFailure', String(err), 500)];
    }
  }

  #takeFault(operation: AwsOperation): string | undefined {
    return this.#faults.get(operation)?.shift();
  }

  #authenticateKms(req: IncomingMessage): Caller {
    try {
      return this.#authenticate(req);
    } catch (err) {
      if (!(err instanceof AuthFault)) throw err;
      const type = {
        missing: 'MissingAuthenticationTokenException',
        invalid: 'UnrecognizedClientException',
        expired: 'ExpiredTokenException',
      }[err.kind];
      throw new KmsFault(type, err.message);
    }
  }

  #authenticateSts(req: IncomingMessage): Caller {
    try {
      return this.#authenticate(req);
    } catch (err) {
      if (!(err instanceof AuthFault)) throw err;
      if (err.kind === 'expired') throw new StsFault('ExpiredToken', err.message, 400);
      const code = err.kind === 'missing' ? 'MissingAuthenticationToken' : 'InvalidClientTokenId';
      throw new StsFault(code, err.message, 403);
    }
  }

  /**
   * Who signed: signatures are not verified (the secret is not checked), but the session
   * token must be one this stand-in issued, unexpired, used with its own access key id.
   */
  #authenticate(req: IncomingMessage): Caller {
    const auth = req.headers.authorization;
    const scope = typeof auth === 'string' ? /Credential=([^/,\s]+)\/\d{8}\/([^/]+)\//.exec(auth) : null;
    if (!scope) throw new AuthFault('missing', 'Missing Authentication Token');
    const token = req.headers['x-amz-security-token'];
    if (typeof token !== 'string' || token === '') return { session: undefined, region: scope[2] };
    const session = this.sts.session(token);
    if (!session || session.accessKeyId !== scope[1]) {
      throw new AuthFault('invalid', 'The security token included in the request is invalid.');
    }
    if (this.sts.isExpired(session)) {
      throw new AuthFault('expired', 'The security token included in the request is expired');
    }
    return { session, region: scope[2] };
  }

  /** The key policy as it applies to one session (owners, without a session, skip this). */
  #authorizer(session: StsSession): KmsAuthorizer {
    return (operation, keyArn, context) => {
      const granted = this.#grants.get(keyArn)?.has(session.role.roleArn) ?? false;
      // DescribeKey carries no context, so the policy's context condition does not apply to it.
      const conditionHolds =
        operation === 'DescribeKey' || context?.['custody:tenant'] === session.role.tenantId;
      if (!granted || !conditionHolds) {
        throw new KmsFault(
          'AccessDeniedException',
          `User: ${assumedRoleArn(session)} is not authorized to perform: kms:${operation} on resource: ` +
            `${keyArn} because no resource-based policy allows the kms:${operation} action`,
        );
      }
    };
  }
}

/** Starts the stand-in; `await standIn.stop()` when done. */
export async function startAwsStandIn(options: AwsStandInOptions = {}): Promise<AwsStandIn> {
  return new AwsStandIn(options).listen();
}
