import {
  constants,
  createCipheriv,
  createDecipheriv,
  generateKeyPairSync,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
} from 'node:crypto';

/**
 * The fake Azure Key Vault itself, with no transport: one vault, its keys and their
 * versions, per-key RBAC for apps, and real crypto (RSA-OAEP(-256) with the version's
 * key pair, AES key wrap with its 256-bit secret). Errors carry Key Vault's wire shape
 * `{"error":{"code","message","innererror":{"code"}}}` and status.
 */

export type KvKeyType = 'RSA' | 'RSA-HSM' | 'oct-HSM';
export type KvOperation = 'getKey' | 'wrapKey' | 'unwrapKey';
/** RBAC data actions, named as Key Vault key permissions. */
export type KvPermission = 'get' | 'wrapKey' | 'unwrapKey';

export interface CreateKeyOptions {
  kty?: KvKeyType;
  /** RSA modulus bits: 2048 (default) or 3072. */
  size?: 2048 | 3072;
  /** `key_ops`; default everything the key type supports. */
  ops?: string[];
}

/** An error Key Vault returns. `innerCode` becomes `innererror.code`. */
export class KvFault extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly innerCode?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function kvErrorBody(fault: KvFault): Record<string, unknown> {
  const error: Record<string, unknown> = { code: fault.code, message: fault.message };
  if (fault.innerCode) error.innererror = { code: fault.innerCode };
  return { error };
}

/** The caller of a request, from its (verified) access token. */
export interface KvCaller {
  appid: string;
  oid: string;
  tid: string;
}

interface KeyVersion {
  version: string;
  kty: KvKeyType;
  ops: string[];
  enabled: boolean;
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
  publicKey?: KeyObject;
  privateKey?: KeyObject;
  secret?: Buffer;
}

interface Key {
  name: string;
  versions: Map<string, KeyVersion>;
  current: string;
  options: CreateKeyOptions;
}

const RSA_OPS = ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey'];
const OCT_OPS = ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'];
const RSA_WRAP: Record<string, string> = { 'RSA-OAEP-256': 'sha256', 'RSA-OAEP': 'sha1' };
const AES_KW_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');

const ACTIONS: Record<KvPermission, string> = {
  get: 'Microsoft.KeyVault/vaults/keys/read',
  wrapKey: 'Microsoft.KeyVault/vaults/keys/wrap/action',
  unwrapKey: 'Microsoft.KeyVault/vaults/keys/unwrap/action',
};

const PERMISSION: Record<KvOperation, KvPermission> = {
  getKey: 'get',
  wrapKey: 'wrapKey',
  unwrapKey: 'unwrapKey',
};

/** Key Vault versions are 32 lowercase hex characters. */
const newVersion = () => randomBytes(16).toString('hex');

export class KeyVaultState {
  readonly #keys = new Map<string, Key>();
  /** keyName → clientId (lower case) → permissions. */
  readonly #grants = new Map<string, Map<string, Set<KvPermission>>>();

  constructor(
    readonly vaultUrl: string,
    readonly tenantId: string,
    private readonly now: () => number = Date.now,
  ) {}

  kid(name: string, version: string): string {
    return `${this.vaultUrl}/keys/${name}/${version}`;
  }

  /** A new key, or a new version of an existing one (as Key Vault's create does). */
  createKey(name: string, options: CreateKeyOptions = {}): string {
    const existing = this.#keys.get(name);
    const key: Key = existing ?? { name, versions: new Map(), current: '', options };
    if (existing) key.options = options;
    const kty = options.kty ?? 'RSA';
    const created = Math.floor(this.now() / 1000);
    const v: KeyVersion = {
      version: newVersion(),
      kty,
      ops: options.ops ?? (kty === 'oct-HSM' ? OCT_OPS : RSA_OPS),
      enabled: true,
      created,
      updated: created,
    };
    if (kty === 'oct-HSM') {
      v.secret = randomBytes(32);
    } else {
      const pair = generateKeyPairSync('rsa', { modulusLength: options.size ?? 2048 });
      v.publicKey = pair.publicKey;
      v.privateKey = pair.privateKey;
    }
    key.versions.set(v.version, v);
    key.current = v.version;
    this.#keys.set(name, key);
    return this.kid(name, v.version);
  }

  /** A new current version with the same type, size and operations. */
  rotateKey(name: string): string {
    return this.createKey(name, this.#admin(name).options);
  }

  /** One version, or (without `version`) every version of the key. */
  disableKey(name: string, version?: string): void {
    for (const v of this.#adminVersions(name, version)) this.#touch(v, { enabled: false });
  }

  enableKey(name: string, version?: string): void {
    for (const v of this.#adminVersions(name, version)) this.#touch(v, { enabled: true });
  }

  /** `exp` one hour in the past (one version, or every version). */
  expireKey(name: string, version?: string): void {
    const exp = Math.floor(this.now() / 1000) - 3600;
    for (const v of this.#adminVersions(name, version)) this.#touch(v, { exp });
  }

  /** `nbf` one hour ahead (one version, or every version). */
  notYetValid(name: string, version?: string): void {
    const nbf = Math.floor(this.now() / 1000) + 3600;
    for (const v of this.#adminVersions(name, version)) this.#touch(v, { nbf });
  }

  /** Clears `exp` and `nbf`. */
  clearValidity(name: string, version?: string): void {
    for (const v of this.#adminVersions(name, version)) this.#touch(v, { exp: undefined, nbf: undefined });
  }

  deleteKey(name: string): void {
    this.#admin(name);
    this.#keys.delete(name);
  }

  /** Role assignment scoped to the key, for an app (its client id). */
  grant(keyName: string, clientId: string, permissions: KvPermission[]): void {
    const byClient = this.#grants.get(keyName) ?? new Map<string, Set<KvPermission>>();
    const set = byClient.get(clientId.toLowerCase()) ?? new Set<KvPermission>();
    for (const p of permissions) set.add(p);
    byClient.set(clientId.toLowerCase(), set);
    this.#grants.set(keyName, byClient);
  }

  /** Removes permissions (all of them without `permissions`). */
  revoke(keyName: string, clientId: string, permissions?: KvPermission[]): void {
    const set = this.#grants.get(keyName)?.get(clientId.toLowerCase());
    if (!set) return;
    if (!permissions) set.clear();
    else for (const p of permissions) set.delete(p);
  }

  /** `GET /keys/{name}[/{version}]`: the key bundle. */
  getKey(caller: KvCaller, name: string, version: string): Record<string, unknown> {
    const v = this.#authorized(caller, 'getKey', name, version);
    if (!v.enabled) throw disabled('get');
    return this.#bundle(name, v);
  }

  /** `POST …/wrapkey` and `…/unwrapkey` with `{ alg, value }` (base64url). */
  keyOperation(
    caller: KvCaller,
    operation: 'wrapKey' | 'unwrapKey',
    name: string,
    version: string,
    body: unknown,
  ): { kid: string; value: string } {
    const v = this.#authorized(caller, operation, name, version);
    if (!v.enabled) throw disabled(operation);
    // Expired and not-yet-valid keys still unwrap (so data stays recoverable), as in Key Vault.
    if (operation === 'wrapKey') this.#checkValidity(v, operation);
    if (!v.ops.includes(operation)) {
      throw new KvFault(
        403,
        'Forbidden',
        `Operation ${operation} is not permitted on this key.`,
        'KeyOperationForbidden',
      );
    }
    const { alg, value } = parseOperationBody(body);
    const input = Buffer.from(value, 'base64url');
    const output = operation === 'wrapKey' ? wrap(v, alg, input) : unwrap(v, alg, input);
    return { kid: this.kid(name, v.version), value: output.toString('base64url') };
  }

  #admin(name: string): Key {
    const key = this.#keys.get(name);
    if (!key) throw new Error(`no stand-in Key Vault key ${name}`);
    return key;
  }

  #adminVersions(name: string, version: string | undefined): KeyVersion[] {
    const key = this.#admin(name);
    if (version === undefined) return [...key.versions.values()];
    const v = key.versions.get(version);
    if (!v) throw new Error(`no version ${version} of stand-in Key Vault key ${name}`);
    return [v];
  }

  #touch(v: KeyVersion, change: Partial<Pick<KeyVersion, 'enabled' | 'exp' | 'nbf'>>): void {
    Object.assign(v, change);
    v.updated = Math.floor(this.now() / 1000);
  }

  /** RBAC first (403 ForbiddenByRbac), then existence (404 KeyNotFound), as Key Vault orders them. */
  #authorized(caller: KvCaller, operation: KvOperation, name: string, version: string): KeyVersion {
    const permission = PERMISSION[operation];
    if (!this.#grants.get(name)?.get(caller.appid.toLowerCase())?.has(permission)) {
      const vault = new URL(this.vaultUrl).host;
      throw new KvFault(
        403,
        'Forbidden',
        [
          'Caller is not authorized to perform action on resource.',
          'If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.',
          `Caller: appid=${caller.appid};oid=${caller.oid};iss=https://sts.windows.net/${caller.tid}/`,
          `Action: '${ACTIONS[permission]}'`,
          `Resource: '/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/standin/providers/microsoft.keyvault/vaults/standin/keys/${name.toLowerCase()}'`,
          'Assignment: (not found)',
          'DenyAssignmentId: null',
          'DecisionReason: null ',
          `Vault: ${vault};location=westeurope`,
          '',
        ].join('\r\n'),
        'ForbiddenByRbac',
      );
    }
    const key = this.#keys.get(name);
    const v = key?.versions.get(version || key.current);
    if (!v) {
      const id = version ? `${name}/${version}` : name;
      throw new KvFault(
        404,
        'KeyNotFound',
        `A key with (name/id) ${id} was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
      );
    }
    return v;
  }

  #checkValidity(v: KeyVersion, operation: string): void {
    const nowS = Math.floor(this.now() / 1000);
    if (v.exp !== undefined && nowS >= v.exp) {
      throw new KvFault(
        403,
        'Forbidden',
        `Operation ${operation} is not allowed on an expired key.`,
        'KeyExpired',
      );
    }
    if (v.nbf !== undefined && nowS < v.nbf) {
      throw new KvFault(
        403,
        'Forbidden',
        `Operation ${operation} is not allowed on a key that is not yet valid.`,
        'KeyNotYetValid',
      );
    }
  }

  #bundle(name: string, v: KeyVersion): Record<string, unknown> {
    const key: Record<string, unknown> = { kid: this.kid(name, v.version), kty: v.kty, key_ops: v.ops };
    if (v.publicKey) {
      const jwk = v.publicKey.export({ format: 'jwk' });
      key.n = jwk.n;
      key.e = jwk.e;
    }
    const attributes: Record<string, unknown> = {
      enabled: v.enabled,
      created: v.created,
      updated: v.updated,
      recoveryLevel: 'Recoverable+Purgeable',
      recoverableDays: 90,
      exportable: false,
    };
    if (v.nbf !== undefined) attributes.nbf = v.nbf;
    if (v.exp !== undefined) attributes.exp = v.exp;
    return { key, attributes };
  }
}

function disabled(operation: string): KvFault {
  return new KvFault(
    403,
    'Forbidden',
    `Operation ${operation} is not allowed on a disabled key.`,
    'KeyDisabled',
  );
}

function badParameter(message: string): KvFault {
  return new KvFault(400, 'BadParameter', message);
}

function parseOperationBody(body: unknown): { alg: string; value: string } {
  const { alg, value } = (body ?? {}) as { alg?: unknown; value?: unknown };
  if (typeof alg !== 'string' || typeof value !== 'string' || !/^[A-Za-z0-9_-]*$/.test(value)) {
    throw badParameter('The request body must have alg and a base64url value.');
  }
  return { alg, value };
}

function checkAlg(v: KeyVersion, alg: string): void {
  const ok = v.kty === 'oct-HSM' ? alg === 'A256KW' : alg in RSA_WRAP;
  if (!ok) throw badParameter(`Algorithm ${alg} is not supported for key type ${v.kty}.`);
}

function wrap(v: KeyVersion, alg: string, input: Buffer): Buffer {
  checkAlg(v, alg);
  if (v.secret) {
    if (input.length < 16 || input.length % 8 !== 0)
      throw badParameter('Key to wrap must be a multiple of 8 bytes.');
    const cipher = createCipheriv('id-aes256-wrap', v.secret, AES_KW_IV);
    return Buffer.concat([cipher.update(input), cipher.final()]);
  }
  try {
    return publicEncrypt(
      { key: v.publicKey!, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: RSA_WRAP[alg] },
      input,
    );
  } catch {
    throw badParameter('Key to wrap is too long for the key.');
  }
}

function unwrap(v: KeyVersion, alg: string, input: Buffer): Buffer {
  checkAlg(v, alg);
  try {
    if (v.secret) {
      const decipher = createDecipheriv('id-aes256-wrap', v.secret, AES_KW_IV);
      return Buffer.concat([decipher.update(input), decipher.final()]);
    }
    return privateDecrypt(
      { key: v.privateKey!, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: RSA_WRAP[alg] },
      input,
    );
  } catch {
    throw badParameter('The ciphertext could not be unwrapped with this key.');
  }
}
