import path from 'node:path';
import { InvalidObjectKeyError, objectKeySegments } from '../object-key.js';

// Both are validated by the API first; checked again here because they become
// directory names, and a mistake there writes into another tenant's tree.
const TENANT_ID = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const PATH_SEGMENT = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** The `path` of a `local` registration when the tenant gives none. */
export const DEFAULT_LOCAL_PATH = 'default';

/**
 * Suffix of the per-key directory where uploads are written before being renamed into
 * place. Keys may not use it, so an upload in progress can never be mistaken for an object.
 */
export const PARTIAL_SUFFIX = '.partial';

/** `<rootDir>/<tenantId>/<pathSegment>`, absolute, after validating both names. */
export function tenantRoot(rootDir: string, tenantId: string, pathSegment: string): string {
  if (!TENANT_ID.test(tenantId)) throw new Error(`invalid tenant id ${JSON.stringify(tenantId)}`);
  if (!PATH_SEGMENT.test(pathSegment)) {
    throw new Error(
      `invalid local storage path ${JSON.stringify(pathSegment)}: one segment matching ${PATH_SEGMENT}`,
    );
  }
  return path.resolve(rootDir, tenantId, pathSegment);
}

/** Absolute file path of `key` under `root`; throws `InvalidObjectKeyError` for unusable keys. */
export function objectPath(root: string, key: string): string {
  const segments = objectKeySegments(key);
  if (segments.some((s) => s.endsWith(PARTIAL_SUFFIX))) {
    throw new InvalidObjectKeyError(key, `"${PARTIAL_SUFFIX}" is reserved for uploads in progress`);
  }
  return within(root, key, path.resolve(root, ...segments));
}

/** Absolute directory path for a key prefix's directory part (`''` is the root itself). */
export function prefixDirPath(root: string, dirKey: string): string {
  if (dirKey === '') return root;
  return within(root, dirKey, path.resolve(root, ...objectKeySegments(dirKey)));
}

// Segment checks already exclude `..` and absolute parts; this is the last line of defence.
function within(root: string, key: string, resolved: string): string {
  if (!resolved.startsWith(root + path.sep))
    throw new InvalidObjectKeyError(key, 'resolves outside the root');
  return resolved;
}
