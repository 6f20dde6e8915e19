import { z } from 'zod';

/**
 * Segments of [A-Za-z0-9!_.'()=-], none starting with `.`; at most 512 characters. No `*`
 * or `?`: the prefix goes into IAM resource ARNs and role-assignment scopes, where they
 * are wildcards.
 */
const PREFIX = /^(?!.*(^|\/)\.)[A-Za-z0-9!_.'()=-]+(\/[A-Za-z0-9!_.'()=-]+)*\/?$/;

/** The key prefix of a tenant's objects in its bucket or container. */
export const tenantPrefix = z
  .string()
  .max(512)
  .regex(PREFIX, 'path segments of letters, digits and !_.\'()=- (no leading "." or "/", no "*")');
