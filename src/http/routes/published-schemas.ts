import { metadataJsonSchema } from '../../domain/recordings/metadata-document.js';
import { defineRoute } from '../route.js';

/** JSON Schemas of what Custody writes into tenants' storage, public so tenants' tools can fetch them. */
export const publishedSchemaRoutes = [
  defineRoute({
    method: 'get',
    path: '/v1/schemas/recording-metadata.v1.json',
    summary: 'JSON Schema (draft 2020-12) of the metadata sidecar written beside each recording',
    tags: ['schemas'],
    access: { kind: 'public' },
    responses: { 200: { description: 'The JSON Schema', contentType: 'application/schema+json' } },
    handler: async () => ({
      status: 200,
      body: metadataJsonSchema,
      headers: { 'content-type': 'application/schema+json', 'cache-control': 'public, max-age=3600' },
    }),
  }),
];
