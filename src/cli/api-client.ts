import { readFileSync } from 'node:fs';

/**
 * The admin CLI's one way to the HTTP API (`CUSTODY_URL`, `CUSTODY_TOKEN`). Every failure
 * becomes a `CliError` whose message is one line and whose exit code tells scripts what
 * kind of failure it was; `main.ts` prints it as `custody: <message>`. Neither the token
 * nor a request body ever appears in a message.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A problem document (or a non-JSON error) from the API: exit 1. */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly problem: Record<string, unknown> | undefined,
  ) {
    super(`${status} ${code}: ${detail}`, 1);
    this.name = 'ApiError';
  }
}

/** The service could not be reached (refused, DNS, TLS, timeout): exit 2. */
export class NetworkError extends CliError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'NetworkError';
  }
}

/** Missing or unusable CLI configuration (`CUSTODY_URL`, `CUSTODY_TOKEN`): exit 64 (EX_USAGE). */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 64);
    this.name = 'UsageError';
  }
}

export type Query = Record<string, string | number | undefined>;

export interface RequestOptions {
  query?: Query;
  json?: unknown;
  /** Stop waiting after this long (default 120 s; 0 = never, for streamed bodies). */
  timeoutMs?: number;
}

export interface ApiClient {
  /** The parsed JSON reply (undefined for 204); throws `ApiError` on any non-2xx. */
  call<T = unknown>(method: string, path: string, o?: RequestOptions): Promise<T>;
  /** The successful response itself, body unread (for streams and headers). */
  fetch(method: string, path: string, o?: RequestOptions): Promise<Response>;
}

const DEFAULT_TIMEOUT_MS = 120_000;

/** `CUSTODY_TOKEN`, or the first line of the file `CUSTODY_TOKEN_FILE` names (keeps it out of the environment). */
function tokenFrom(env: NodeJS.ProcessEnv): string {
  if (env.CUSTODY_TOKEN) return env.CUSTODY_TOKEN;
  if (env.CUSTODY_TOKEN_FILE) {
    let text: string;
    try {
      text = readFileSync(env.CUSTODY_TOKEN_FILE, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read CUSTODY_TOKEN_FILE (${(err as NodeJS.ErrnoException).code})`);
    }
    const token = text.split(/\r?\n/)[0]?.trim();
    if (token) return token;
    throw new UsageError('CUSTODY_TOKEN_FILE is empty');
  }
  throw new UsageError(
    'set CUSTODY_TOKEN (or CUSTODY_TOKEN_FILE): the operator token, or a tenant API key for `recordings`',
  );
}

function baseFrom(env: NodeJS.ProcessEnv): URL {
  const raw = env.CUSTODY_URL;
  if (!raw) throw new UsageError('set CUSTODY_URL to the service’s base URL, e.g. http://localhost:8080');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError('CUSTODY_URL is not a URL (expected e.g. http://localhost:8080)');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError('CUSTODY_URL must be an http:// or https:// URL');
  if (url.username || url.password)
    throw new UsageError('CUSTODY_URL must not hold credentials; use CUSTODY_TOKEN');
  return url;
}

/** `/v1/…` under the base URL's own path, so a service behind `https://host/custody/` works. */
function urlOf(base: URL, path: string, query: Query = {}): URL {
  const url = new URL(base);
  url.pathname = `${base.pathname.replace(/\/+$/, '')}${path}`;
  url.search = '';
  for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
  return url;
}

/** Why fetch failed, from its `cause` (`ECONNREFUSED`, `ENOTFOUND`, a TLS code…), never from a body. */
function networkReason(err: unknown): string {
  const e = err as { name?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return 'timed out';
  return e.cause?.code ?? e.cause?.message ?? (err as Error).message;
}

async function problemOf(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  const type = res.headers.get('content-type') ?? '';
  if (/[/+]json\b/.test(type)) {
    try {
      const p = JSON.parse(text) as Record<string, unknown>;
      if (typeof p.code === 'string') return new ApiError(res.status, p.code, String(p.detail ?? ''), p);
    } catch {}
  }
  // Not a problem document (a proxy's page, say): its body is not echoed.
  return new ApiError(res.status, 'HTTP_ERROR', res.statusText || 'unexpected response', undefined);
}

/** Reads the environment on first use, so `--help` works without it. */
export function apiClient(env: NodeJS.ProcessEnv = process.env): ApiClient {
  let settings: { base: URL; token: string } | undefined;
  const send = async (method: string, path: string, o: RequestOptions = {}): Promise<Response> => {
    settings ??= { base: baseFrom(env), token: tokenFrom(env) };
    const url = urlOf(settings.base, path, o.query);
    const timeout = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${settings.token}`,
          accept: 'application/json',
          ...(o.json === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: o.json === undefined ? undefined : JSON.stringify(o.json),
        signal: timeout > 0 ? AbortSignal.timeout(timeout) : undefined,
        redirect: 'error',
      });
    } catch (err) {
      throw new NetworkError(`cannot reach ${settings.base.origin}: ${networkReason(err)}`);
    }
    if (!res.ok) throw await problemOf(res);
    return res;
  };
  return {
    fetch: send,
    async call<T>(method: string, path: string, o?: RequestOptions): Promise<T> {
      const res = await send(method, path, o);
      let text: string;
      try {
        text = await res.text();
      } catch (err) {
        throw new NetworkError(`the reply from ${settings!.base.origin} was cut off: ${networkReason(err)}`);
      }
      if (text === '') return undefined as T;
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new ApiError(res.status, 'BAD_REPLY', 'the service did not answer JSON', undefined);
      }
    },
  };
}

/** The client every command shares. */
export const api = apiClient();

/** `/v1/tenants/<id>/<rest>` with the id escaped. */
export const tenantPath = (tenant: string, rest = '') =>
  `/v1/tenants/${encodeURIComponent(tenant)}${rest ? `/${rest}` : ''}`;

/** `/v1/recordings/<id>/<rest>` with the id escaped. */
export const recordingPath = (id: string, rest = '') =>
  `/v1/recordings/${encodeURIComponent(id)}${rest ? `/${rest}` : ''}`;
