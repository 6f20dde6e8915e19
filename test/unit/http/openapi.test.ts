import { describe, expect, it } from 'vitest';
import { buildOpenApi } from '../../../src/http/openapi.js';
import { allRoutes } from '../../../src/http/routes/index.js';

describe('/openapi.json', () => {
  const doc = buildOpenApi(allRoutes, 'test') as {
    openapi: string;
    paths: Record<string, Record<string, any>>;
  };

  it('describes every route of the table, with the schemas that validate it', () => {
    expect(doc.openapi).toBe('3.1.0');
    for (const r of allRoutes) {
      const op = doc.paths[r.path.replace(/:([A-Za-z]+)/g, '{$1}')]?.[r.method];
      expect(op, `${r.method} ${r.path}`).toBeDefined();
      for (const status of Object.keys(r.responses)) expect(op.responses[status]).toBeDefined();
    }
    const put = doc.paths['/v1/tenants/{tenantId}/storage']!.put;
    expect(JSON.stringify(put.requestBody)).toMatch(/"local"/);
    const ingest = doc.paths['/v1/recordings']!.post;
    expect(ingest.parameters.find((p: { name: string }) => p.name === 'callId')).toMatchObject({
      required: true,
      in: 'query',
    });
    expect(ingest.requestBody.content['audio/*']).toBeDefined();
    const exported = doc.paths['/v1/tenants/{tenantId}/audit/export']!.get;
    expect(exported.responses['200'].content['application/x-ndjson']).toBeDefined();
    expect(exported.parameters.map((p: { name: string }) => p.name)).toEqual(['tenantId', 'from', 'to']);
  });

  it('covers the contract’s routes', () => {
    const contract = [
      'post /v1/tenants',
      'get /v1/tenants/{tenantId}',
      'patch /v1/tenants/{tenantId}',
      'post /v1/tenants/{tenantId}/api-keys',
      'get /v1/tenants/{tenantId}/api-keys',
      'delete /v1/tenants/{tenantId}/api-keys/{keyId}',
      'get /v1/tenants/{tenantId}/storage',
      'get /v1/tenants/{tenantId}/storage/aws-setup',
      'put /v1/tenants/{tenantId}/storage',
      'post /v1/recordings',
      'get /v1/recordings',
      'get /v1/recordings/{id}',
      'delete /v1/recordings/{id}',
      'post /v1/recordings/{id}/retry',
      'put /v1/recordings/{id}/legal-hold',
      'post /v1/recordings/{id}/playback-link',
      'post /v1/tenants/{tenantId}/retention/run',
      'get /v1/tenants/{tenantId}/audit',
      'post /v1/tenants/{tenantId}/key-jobs',
      'get /v1/tenants/{tenantId}/key-jobs',
      'get /v1/tenants/{tenantId}/key-jobs/{id}',
      'post /v1/tenants/{tenantId}/key-jobs/{id}/cancel',
      'get /v1/tenants/{tenantId}/audit/export',
      'get /v1/tenants/{tenantId}/audit/verify',
      'get /v1/tenants/{tenantId}/key-usage',
      'post /v1/tenants/{tenantId}/webhooks',
      'get /v1/tenants/{tenantId}/webhooks',
      'delete /v1/tenants/{tenantId}/webhooks/{webhookId}',
      'get /v1/tenants/{tenantId}/webhooks/{webhookId}/deliveries',
      'post /v1/tenants/{tenantId}/webhooks/{webhookId}/ping',
      'post /v1/tenants/{tenantId}/export',
      'get /v1/tenants/{tenantId}/export/{exportId}',
      'delete /v1/tenants/{tenantId}',
      'get /v1/tenants/{tenantId}/deletion-certificate',
      'get /v1/deletion-certificates/public-key',
      'get /healthz',
      'get /readyz',
      'get /metrics',
      'get /openapi.json',
    ];
    for (const entry of contract) {
      const [method, path] = entry.split(' ');
      expect(doc.paths[path!]?.[method!], entry).toBeDefined();
    }
  });
});
