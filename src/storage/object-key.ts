/**
 * Object keys, shared by every storage provider.
 *
 * Keys are produced by the service, never taken from a request; they are still checked
 * at every target so that a bug upstream cannot turn into a path traversal on disk or a
 * write outside the tenant's prefix in a bucket.
 */

/** Thrown for a key or prefix that no provider may use. A programming error, not a storage failure. */
export class InvalidObjectKeyError extends Error {
  readonly code = 'INVALID_OBJECT_KEY';
  constructor(key: string, reason: string) {
    super(`invalid object key ${JSON.stringify(key)}: ${reason}`);
    this.name = 'InvalidObjectKeyError';
  }
}

/** S3's limit (1024 bytes of UTF-8); Azure allows more, so this fits both. */
const MAX_KEY_BYTES = 1024;

// Recording ids are server-generated and URL-safe (see the API contract).
const RECORDING_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * `year=YYYY/month=MM/day=DD/<recordingId>.esdk`, dated in UTC. Hive-style date
 * partitions let tenants query or expire their bucket by date with their own tools.
 */
export function objectKeyFor(recordingId: string, receivedAt: Date): string {
  if (!RECORDING_ID.test(recordingId)) {
    throw new InvalidObjectKeyError(recordingId, 'recording id is not URL-safe');
  }
  const time = receivedAt.getTime();
  if (Number.isNaN(time)) throw new RangeError('receivedAt is not a valid date');
  const year = String(receivedAt.getUTCFullYear()).padStart(4, '0');
  const month = String(receivedAt.getUTCMonth() + 1).padStart(2, '0');
  const day = String(receivedAt.getUTCDate()).padStart(2, '0');
  return `year=${year}/month=${month}/day=${day}/${recordingId}.esdk`;
}

/**
 * The metadata sidecar beside an audio object: `…/<name>.esdk` → `…/<name>.meta.json.esdk`
 * (encrypted) or `…/<name>.meta.json` (plaintext). Derived from the audio key, so every
 * audio object a key job writes (`<id>.v2.esdk`) has its own sidecar name, and whoever
 * removes an audio object knows where its sidecar is.
 */
export function metadataKeyFor(audioKey: string, encrypted: boolean): string {
  assertObjectKey(audioKey);
  if (!audioKey.endsWith('.esdk')) throw new InvalidObjectKeyError(audioKey, 'not an audio object key');
  return `${audioKey.slice(0, -'.esdk'.length)}.meta.json${encrypted ? '.esdk' : ''}`;
}

/**
 * Splits a key into its segments, rejecting anything that could escape the tenant's
 * root or hide from a listing: absolute paths, `..`, empty segments, backslashes
 * (a separator on Windows), NUL and other control characters, and segments starting
 * with `.` (so `.` and `..` and dot-files are never keys).
 */
export function objectKeySegments(key: string): string[] {
  if (typeof key !== 'string' || key.length === 0) throw new InvalidObjectKeyError(String(key), 'empty');
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) {
    throw new InvalidObjectKeyError(key, `longer than ${MAX_KEY_BYTES} bytes`);
  }
  if (key.startsWith('/')) throw new InvalidObjectKeyError(key, 'absolute');
  const segments = key.split('/');
  for (const segment of segments) checkSegment(key, segment);
  return segments;
}

/** Throws `InvalidObjectKeyError` unless `key` is a valid object key; returns it for chaining. */
export function assertObjectKey(key: string): string {
  objectKeySegments(key);
  return key;
}

/**
 * A listing prefix is a key's beginning: it may end with `/` or stop inside a segment
 * (`year=2026/month=1` matches months 10–12 as well, as in S3). The empty prefix lists all.
 */
export function assertObjectKeyPrefix(prefix: string): string {
  if (prefix === '') return prefix;
  if (prefix.startsWith('/')) throw new InvalidObjectKeyError(prefix, 'absolute');
  const segments = prefix.split('/');
  const last = segments.pop() ?? '';
  for (const segment of segments) checkSegment(prefix, segment);
  if (last !== '') checkSegment(prefix, last);
  return prefix;
}

/** Why `segment` cannot be part of a key, or `undefined` when it can. */
export function keySegmentProblem(segment: string): string | undefined {
  if (segment === '') return 'empty path segment';
  if (segment.startsWith('.')) return 'segment starts with "."';
  if (segment.includes('\\')) return 'backslash';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(segment)) return 'control character';
  return undefined;
}

function checkSegment(key: string, segment: string): void {
  const problem = keySegmentProblem(segment);
  if (problem) throw new InvalidObjectKeyError(key, problem);
}

/**
 * A store prefix as the S3 and Azure targets keep it: `''`, or without leading slashes and
 * with exactly one trailing slash (`a/b`, `/a/b` and `a/b/` all mean `a/b/`).
 */
export function normalisePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+/, '').replace(/\/+$/, '');
  if (trimmed === '') return '';
  assertObjectKey(trimmed);
  return `${trimmed}/`;
}

/** Whether a listed name (relative to the prefix) is one the service could have written. */
export function isUsableKey(key: string): boolean {
  return key !== '' && key.split('/').every((segment) => keySegmentProblem(segment) === undefined);
}
