import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const policiesDir = path.resolve(
  here,
  here.includes(`${path.sep}dist${path.sep}`) ? '../../../../policies/aws' : '../../../policies/aws',
);

const load = (name: string) => readFileSync(path.join(policiesDir, name), 'utf8');

/** Fills the templates the tenant applies in its AWS account; unknown values stay as `${Name}`. */
export function awsSetup(values: {
  tenantId: string;
  externalId: string;
  connectorPrincipal: string | undefined;
}) {
  // Template placeholders look like `${Name}` (as in CloudFormation), left for the tenant when unknown.
  const slot = (name: string) => '$' + `{${name}}`;
  const fill = (text: string) =>
    JSON.parse(
      text
        .replaceAll(slot('TenantId'), values.tenantId)
        .replaceAll(slot('ExternalId'), values.externalId)
        .replaceAll(slot('ConnectorPrincipal'), values.connectorPrincipal ?? slot('ConnectorPrincipal')),
    );
  return {
    externalId: values.externalId,
    connectorPrincipal: values.connectorPrincipal ?? null,
    trustPolicy: fill(load('trust-policy.json')),
    permissionsPolicy: fill(load('permissions-policy.json')),
    keyPolicyStatement: fill(load('key-policy-statement.json')),
  };
}
