import { z } from 'zod';
import type { RouteSpec } from './route.js';

const toJson = (schema: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' });

/** OpenAPI 3.1 generated from the route table: the schemas that validate are the ones documented. */
export function buildOpenApi(routes: RouteSpec[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.path.replace(/:([A-Za-z]+)/g, '{$1}');
    const parameters: unknown[] = [];
    for (const [where, schema] of [
      ['path', r.params],
      ['query', r.query],
    ] as const) {
      if (!schema || !(schema instanceof z.ZodObject)) continue;
      for (const [name, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
        parameters.push({
          name,
          in: where,
          required: where === 'path' || !field.safeParse(undefined).success,
          schema: toJson(field, 'input'),
        });
      }
    }
    const security = r.access.kind === 'public' ? [] : [{ bearer: [] }];
    const operation: Record<string, unknown> = {
      summary: r.summary,
      tags: r.tags,
      'x-custody-access': r.access,
      security,
      parameters,
      responses: Object.fromEntries(
        Object.entries(r.responses).map(([status, spec]) => [
          status,
          {
            description: spec.description,
            ...(spec.schema
              ? {
                  content: {
                    [Number(status) >= 400 ? 'application/problem+json' : 'application/json']: {
                      schema: toJson(spec.schema, 'output'),
                    },
                  },
                }
              : spec.contentType
                ? { content: { [spec.contentType]: { schema: { type: 'string', format: 'binary' } } } }
                : {}),
          },
        ]),
      ),
    };
    if (r.body) {
      operation.requestBody =
        'raw' in r.body
          ? { required: true, content: { [r.body.raw]: { schema: { type: 'string', format: 'binary' } } } }
          : {
              required: true,
              content: { 'application/json': { schema: toJson(r.body as z.ZodType, 'input') } },
            };
    }
    paths[path] ??= {};
    paths[path][r.method] = operation;
    if (r.head) paths[path].head = { ...operation, summary: `${r.summary} (headers only)` };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Custody',
      version,
      description: 'Call recordings in each tenant’s own storage, under its own key.',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}
