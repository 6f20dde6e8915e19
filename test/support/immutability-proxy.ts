import type http from 'node:http';
import type { AzuriteHandle } from './azurite.js';
import { storeError } from './fault-proxy.js';
import { header, InterceptingProxy } from './intercepting-proxy.js';

/**
 * Azure Blob version-level immutability (WORM) in front of Azurite, which implements none
 * of it: Azurite accepts and ignores the policy and hold headers on uploads, answers
 * `comp=legalhold` and `comp=immutabilityPolicies` with 501, and reports no container
 * support. This proxy keeps the real state beside it, per blob (the current version):
 *
 * Emulated:
 * - Put Blob (`PUT` without `comp`) and Put Block List (`comp=blocklist`) with
 *   `x-ms-immutability-policy-until-date` / `x-ms-immutability-policy-mode` and
 *   `x-ms-legal-hold`: forwarded as they are (Azurite accepts them); once Azurite answers
 *   2xx, the new version's lock is what those headers say (none when absent). The blob
 *   replaced, if its version was locked, is kept in `retainedVersions` (Azure keeps it as a
 *   previous version).
 * - Set Legal Hold (`PUT ?comp=legalhold`) and Set / Delete Immutability Policy
 *   (`PUT|DELETE ?comp=immutabilityPolicies`): answered from the state, 404 BlobNotFound
 *   when Azurite has no such blob. A `Locked` policy can be extended, never shortened nor
 *   deleted (409); an unlocked one can be changed freely.
 * - Get Container Properties (`?restype=container`):
 *   `x-ms-immutable-storage-with-versioning-enabled` is `true` for the containers given
 *   to `enableVersionLevelImmutability`, `false` for the others. Lock headers (or a
 *   policy or hold request) for a container without it: 409.
 * - Get Blob / Get Blob Properties: the lock headers of the current version are added.
 * - Delete Blob of a version under an unexpired policy or a legal hold: in a container
 *   with versioning, Azure makes the current version a previous one and keeps its data.
 *   Here the delete goes through to Azurite (the blob vanishes from listings and reads)
 *   and the bytes and lock are kept in `retainedVersions`.
 *
 * Not emulated: version ids (`x-ms-version-id`) and reads or listings of previous
 * versions (`versionid=`, `include=versions`): tests inspect `retainedVersions` instead;
 * refusing a delete or overwrite of a locked *previous* version (none is addressable);
 * lock properties in List Blobs; container-level (not version-level) policies; default
 * policies of a container; refusals of metadata, tier or other changes of locked
 * versions; authorization of the policy and hold requests (Azure needs a distinct
 * permission for each; here any caller Azurite would accept is allowed). The 409 codes
 * below are the stand-in's own.
 */
export interface BlobLock {
  /** The immutability policy's expiry, as the header said it (RFC 1123: whole seconds). */
  until?: Date;
  mode?: string;
  legalHold: boolean;
}

/** A version Azure would keep after a delete or overwrite of a locked current version. */
export interface RetainedVersion {
  container: string;
  blob: string;
  bytes: Buffer;
  lock: BlobLock;
  /** What made it a previous version. */
  reason: 'deleted' | 'overwritten';
}

interface Answer {
  status: number;
  headers?: Record<string, string>;
  code?: string;
}

export class ImmutabilityProxy extends InterceptingProxy {
  readonly retainedVersions: RetainedVersion[] = [];
  readonly #locks = new Map<string, BlobLock>();
  readonly #enabled = new Set<string>();

  constructor(private readonly azurite: AzuriteHandle) {
    super(new URL(azurite.accountUrl).origin, 'azure');
  }

  /** The account URL to register: the proxy's origin and Azurite's account path. */
  get accountUrl(): string {
    return `${this.endpoint}/${this.azurite.accountName}`;
  }

  /** Turns on version-level immutability support for a container (as its Azure admin would). */
  enableVersionLevelImmutability(container: string): void {
    this.#enabled.add(container);
  }

  /** The current version's lock, or undefined when it has none (or the blob is gone). */
  lockOf(container: string, blob: string): BlobLock | undefined {
    const lock = this.#locks.get(`${container}/${blob}`);
    return lock && { ...lock };
  }

  protected override intercept(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://proxy');
    // Path-style, as Azurite serves it: /<account>/<container>[/<blob>].
    const [, , container = '', ...rest] = url.pathname.split('/');
    const blob = decodeURIComponent(rest.join('/'));
    const comp = url.searchParams.get('comp');
    const method = req.method ?? '';
    const run = (work: Promise<unknown>) => this.settle(req, res, work);

    if (blob === '') {
      if (url.searchParams.get('restype') !== 'container' || comp !== null) return false;
      // Get Container Properties: the support the handshake's `immutability` step checks.
      const enabled = String(this.#enabled.has(container));
      return run(
        this.forward(req, res, () => ({ 'x-ms-immutable-storage-with-versioning-enabled': enabled })),
      );
    }
    const id = `${container}/${blob}`;
    if (method === 'PUT' && (comp === null || comp === 'blocklist')) return run(this.#write(req, res, id));
    if (method === 'PUT' && comp === 'legalhold') return run(this.#setLegalHold(req, res, id));
    if ((method === 'PUT' || method === 'DELETE') && comp === 'immutabilityPolicies')
      return run(this.#policy(req, res, id));
    if (method === 'DELETE' && comp === null) return run(this.#delete(req, res, id));
    if ((method === 'GET' || method === 'HEAD') && comp === null) {
      return run(this.forward(req, res, () => lockHeaders(this.#locks.get(id))));
    }
    return false;
  }

  /** Put Blob / Put Block List: the new version is born with the lock its headers name. */
  async #write(req: http.IncomingMessage, res: http.ServerResponse, id: string): Promise<void> {
    const lock = lockFrom(req.headers);
    if (lock && !this.#enabled.has(containerOf(id))) {
      req.resume();
      return answer(req, res, { status: 409, code: 'ContainerImmutabilityNotEnabled' });
    }
    const replaced = await this.#snapshotIfLocked(id);
    await this.forward(req, res, (status) => {
      if (!ok(status)) return {};
      if (replaced) this.retainedVersions.push({ ...replaced, reason: 'overwritten' });
      if (lock) this.#locks.set(id, lock);
      else this.#locks.delete(id);
      return {};
    });
  }

  async #setLegalHold(req: http.IncomingMessage, res: http.ServerResponse, id: string): Promise<void> {
    req.resume();
    const refused = await this.#refusal(id);
    if (refused) return answer(req, res, refused);
    const on = header(req.headers, 'x-ms-legal-hold') === 'true';
    const lock = this.#locks.get(id) ?? { legalHold: false };
    this.#locks.set(id, { ...lock, legalHold: on });
    answer(req, res, { status: 200, headers: { 'x-ms-legal-hold': String(on) } });
  }

  async #policy(req: http.IncomingMessage, res: http.ServerResponse, id: string): Promise<void> {
    req.resume();
    const refused = await this.#refusal(id);
    if (refused) return answer(req, res, refused);
    const lock = this.#locks.get(id) ?? { legalHold: false };
    const locked = lock.mode === 'Locked' && lock.until !== undefined && lock.until.getTime() > Date.now();
    if (req.method === 'DELETE') {
      if (locked) return answer(req, res, { status: 409, code: 'ImmutabilityPolicyLocked' });
      this.#locks.set(id, { legalHold: lock.legalHold });
      return answer(req, res, { status: 200 });
    }
    const wanted = lockFrom(req.headers);
    const until = wanted?.until;
    if (!until) return answer(req, res, { status: 400, code: 'MissingRequiredHeader' });
    if (locked && until.getTime() < lock.until!.getTime())
      return answer(req, res, { status: 409, code: 'ImmutabilityPolicyLocked' });
    const mode = wanted.mode ?? 'Unlocked';
    this.#locks.set(id, { until, mode, legalHold: lock.legalHold });
    answer(req, res, { status: 200, headers: lockHeaders({ until, mode, legalHold: lock.legalHold }) });
  }

  /** A locked current version is deleted from Azurite but kept here, as Azure keeps it. */
  async #delete(req: http.IncomingMessage, res: http.ServerResponse, id: string): Promise<void> {
    const retained = await this.#snapshotIfLocked(id);
    await this.forward(req, res, (status) => {
      if (!ok(status)) return {};
      if (retained) this.retainedVersions.push({ ...retained, reason: 'deleted' });
      this.#locks.delete(id);
      return {};
    });
  }

  /** Why a policy or hold request is refused: no support in the container, or no blob. */
  async #refusal(id: string): Promise<Answer | undefined> {
    if (!this.#enabled.has(containerOf(id))) return { status: 409, code: 'ContainerImmutabilityNotEnabled' };
    if (!(await this.#blobClient(id).exists())) {
      this.#locks.delete(id);
      return { status: 404, code: 'BlobNotFound' };
    }
    return undefined;
  }

  /** The current version's bytes and lock, if it is locked now (read from Azurite directly). */
  async #snapshotIfLocked(id: string): Promise<Omit<RetainedVersion, 'reason'> | undefined> {
    const lock = this.#locks.get(id);
    if (!lock || !isLocked(lock)) return undefined;
    const client = this.#blobClient(id);
    if (!(await client.exists())) {
      this.#locks.delete(id);
      return undefined;
    }
    return {
      container: containerOf(id),
      blob: blobOf(id),
      bytes: await client.downloadToBuffer(),
      lock: { ...lock },
    };
  }

  #blobClient(id: string) {
    return this.azurite.serviceClient().getContainerClient(containerOf(id)).getBlobClient(blobOf(id));
  }
}

const ok = (status: number) => status >= 200 && status < 300;
const containerOf = (id: string) => id.slice(0, id.indexOf('/'));
const blobOf = (id: string) => id.slice(id.indexOf('/') + 1);
const isLocked = (lock: BlobLock) =>
  lock.legalHold || (lock.until !== undefined && lock.until.getTime() > Date.now());

/** The lock an upload or policy request asks for, or undefined when it names none. */
function lockFrom(headers: http.IncomingHttpHeaders): BlobLock | undefined {
  const untilHeader = header(headers, 'x-ms-immutability-policy-until-date');
  const mode = header(headers, 'x-ms-immutability-policy-mode');
  const legalHold = header(headers, 'x-ms-legal-hold') === 'true';
  if (untilHeader === undefined && !legalHold) return undefined;
  const until = untilHeader === undefined ? undefined : new Date(untilHeader);
  return {
    ...(until ? { until } : {}),
    ...(until ? { mode: mode ?? 'Unlocked' } : {}),
    legalHold,
  };
}

function lockHeaders(lock: BlobLock | undefined): Record<string, string> {
  if (!lock) return {};
  return {
    ...(lock.until
      ? {
          'x-ms-immutability-policy-until-date': lock.until.toUTCString(),
          'x-ms-immutability-policy-mode': lock.mode ?? 'Unlocked',
        }
      : {}),
    'x-ms-legal-hold': String(lock.legalHold),
  };
}

/** A reply as the Blob service sends it; errors carry their code in the header and the XML body. */
function answer(req: http.IncomingMessage, res: http.ServerResponse, a: Answer): void {
  const headers: Record<string, string> = {
    'x-ms-request-id': 'immutability-proxy',
    'x-ms-version': header(req.headers, 'x-ms-version') ?? '2021-06-08',
    date: new Date().toUTCString(),
    ...(header(req.headers, 'x-ms-client-request-id')
      ? { 'x-ms-client-request-id': header(req.headers, 'x-ms-client-request-id')! }
      : {}),
    ...a.headers,
  };
  if (!a.code) {
    res.writeHead(a.status, { ...headers, 'content-length': '0' });
    res.end();
    return;
  }
  const error = storeError('azure', a.status, a.code);
  res.writeHead(a.status, { ...error.headers, ...headers });
  res.end(req.method === 'HEAD' ? '' : error.body);
}
