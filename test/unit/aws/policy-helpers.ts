import type { PolicyStatement } from '../../../src/aws/api-calls.js';

export interface Statement {
  Sid?: string;
  Effect: string;
  Principal?: { AWS: string };
  Action: string | string[];
  Resource?: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

/** Which declared group of calls each template statement grants (by Sid). */
export const STATEMENT_OF_SID: Record<string, PolicyStatement> = {
  CustodyConnectorAssumeRole: 'trust',
  CustodyRecordingObjects: 's3-objects',
  CustodyListOwnPrefix: 's3-bucket',
  CustodyBucketObjectLockConfiguration: 's3-bucket-config',
  CustodyDataKeysForThisTenant: 'kms-tenant-context',
  CustodyDescribeKey: 'kms-no-context',
  CustodyRoleDataKeysForThisTenant: 'kms-tenant-context',
  CustodyRoleDescribeKey: 'kms-no-context',
};

export const list = (v: string | string[] | undefined): string[] =>
  v === undefined ? [] : Array.isArray(v) ? v : [v];

/**
 * Differences between the statements' actions and the expected actions per group: every
 * group of `expected` must be granted exactly once, with exactly its actions.
 */
export function actionMismatches(
  statements: Statement[],
  expected: Partial<Record<PolicyStatement, string[]>>,
): string[] {
  const problems: string[] = [];
  const seen = new Set<PolicyStatement>();
  for (const st of statements) {
    const group = STATEMENT_OF_SID[st.Sid ?? ''];
    if (!group || !(group in expected)) {
      problems.push(`unexpected statement ${st.Sid}`);
      continue;
    }
    if (seen.has(group)) problems.push(`group ${group} granted twice`);
    seen.add(group);
    const got = [...list(st.Action)].sort();
    const want = expected[group]!;
    for (const a of want) if (!got.includes(a)) problems.push(`${st.Sid}: missing ${a}`);
    for (const a of got) if (!want.includes(a)) problems.push(`${st.Sid}: extra ${a}`);
  }
  for (const group of Object.keys(expected) as PolicyStatement[])
    if (!seen.has(group)) problems.push(`no statement grants ${group}`);
  return problems;
}

/** Every value under an `Action`/`NotAction` or `Resource`/`NotResource` key, at any depth. */
export function collect(doc: unknown, keys: string[], out: string[] = []): string[] {
  if (Array.isArray(doc)) for (const d of doc) collect(d, keys, out);
  else if (doc && typeof doc === 'object') {
    for (const [k, v] of Object.entries(doc)) {
      if (keys.includes(k)) out.push(...list(v as string | string[]));
      else collect(v, keys, out);
    }
  }
  return out;
}

/** An IAM string pattern (`*` any run, `?` one character) as a RegExp. */
export function iamPattern(pattern: string): RegExp {
  const body = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\/-]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`);
}
