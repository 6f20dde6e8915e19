import os from 'node:os';
import pg from 'pg';

// bigint columns (sizes) come back as JS numbers: recordings stay far below 2^53 bytes.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number.parseInt(v, 10));

export type Db = pg.Pool;
export type DbClient = pg.PoolClient;
/** Anything that can run a query: the pool, or a client inside a transaction. */
export type Queryable = Pick<pg.Pool, 'query'>;

/**
 * Client settings for a connection string. libpq falls back to the OS user when the
 * URL names none; node-postgres reads only $USER, which service managers often unset.
 */
export function clientConfig(databaseUrl: string, schema?: string): pg.ClientConfig {
  const url = new URL(databaseUrl);
  if (url.username === '' && !process.env.PGUSER && !process.env.USER) url.username = os.userInfo().username;
  return {
    connectionString: url.toString(),
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  };
}

/** A pool whose connections use Custody's schema (tests and shared databases use their own). */
export function createPool(databaseUrl: string, schema: string, max = 10): Db {
  const pool = new pg.Pool({
    ...clientConfig(databaseUrl, schema),
    max,
    connectionTimeoutMillis: 5_000,
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  return pool;
}

/** Runs `fn` in a transaction; rolls back on any error. */
export async function transaction<T>(db: Db, fn: (client: DbClient) => Promise<T>): Promise<T> {
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
