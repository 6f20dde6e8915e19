import { Redis, type RedisOptions } from 'ioredis';

/**
 * Workers block on Redis and must wait through outages (`maxRetriesPerRequest: null`).
 * Producers in the API must fail fast instead (`enableOfflineQueue: false`): ingest
 * keeps working while Redis is down because the row, not the job, is the truth.
 */
export function redisConnection(url: string, role: 'worker' | 'producer'): Redis {
  const options: RedisOptions =
    role === 'worker'
      ? { maxRetriesPerRequest: null, enableReadyCheck: true }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2_000 };
  const redis = new Redis(url, {
    ...options,
    lazyConnect: false,
    retryStrategy: (times) => Math.min(200 * times, 2_000),
  });
  // Connection errors are expected during an outage; readiness reports them.
  redis.on('error', () => {});
  return redis;
}
