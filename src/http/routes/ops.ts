import { z } from 'zod';
import type { Context } from '../../context.js';
import { sampleKeyMetrics } from '../../observability/key-metrics.js';
import { QUEUES } from '../../queue/names.js';
import { buildOpenApi } from '../openapi.js';
import { defineRoute, type RouteSpec } from '../route.js';

const STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

/** Samples queue depth at scrape time; silently skipped while Redis is down. */
async function sampleQueues(ctx: Context): Promise<void> {
  if (!ctx.producer.redisReady) return;
  const queues = { [QUEUES.transfer]: ctx.producer.transfer, [QUEUES.delete]: ctx.producer.delete };
  await Promise.all(
    Object.entries(queues).map(async ([name, q]) => {
      const counts = await q.getJobCounts(...STATES).catch(() => undefined);
      for (const state of STATES)
        if (counts) ctx.metrics.queueDepth.set({ queue: name, state }, counts[state] ?? 0);
    }),
  );
}

export function opsRoutes(allRoutes: () => RouteSpec[]): RouteSpec[] {
  return [
    defineRoute({
      method: 'get',
      path: '/healthz',
      summary: 'The process is up',
      tags: ['operations'],
      access: { kind: 'public' },
      responses: { 200: { description: 'Up', schema: z.object({ status: z.literal('ok') }) } },
      handler: async () => ({ status: 200, body: { status: 'ok' } }),
    }),
    defineRoute({
      method: 'get',
      path: '/readyz',
      summary: 'PostgreSQL reachable (Redis reported, not required)',
      tags: ['operations'],
      access: { kind: 'public' },
      responses: {
        200: {
          description: 'Ready',
          schema: z.object({ status: z.string(), postgres: z.string(), redis: z.string() }),
        },
        503: { description: 'PostgreSQL unreachable' },
      },
      handler: async ({ ctx }) => {
        const postgres = await ctx.db.query('SELECT 1').then(
          () => 'ok',
          () => 'unavailable',
        );
        const redis = ctx.producer.redisReady ? 'ok' : 'unavailable';
        return {
          status: postgres === 'ok' ? 200 : 503,
          body: { status: postgres === 'ok' ? 'ready' : 'not-ready', postgres, redis },
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/metrics',
      summary: 'Prometheus metrics',
      tags: ['operations'],
      access: { kind: 'public' },
      responses: { 200: { description: 'Prometheus text format', contentType: 'text/plain' } },
      handler: async ({ ctx, res }) => {
        await sampleQueues(ctx);
        await sampleKeyMetrics(ctx);
        res.setHeader('Content-Type', ctx.metrics.registry.contentType);
        res.status(200).send(await ctx.metrics.registry.metrics());
        return undefined;
      },
    }),
    defineRoute({
      method: 'get',
      path: '/openapi.json',
      summary: 'This document',
      tags: ['operations'],
      access: { kind: 'public' },
      responses: { 200: { description: 'OpenAPI 3.1' } },
      handler: async () => ({ status: 200, body: buildOpenApi(allRoutes(), '0.1.0') }),
    }),
  ];
}
