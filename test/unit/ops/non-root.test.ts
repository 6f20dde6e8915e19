import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { builtinModules } from 'node:module';
import { chmod, chown, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientConfig } from '../../../src/db/pool.js';
import { parseCopy, parseDockerfile, stages } from '../../support/dockerfile.js';
import { DATABASE_URL, REDIS_URL } from '../../support/harness.js';
import { waitUntil } from '../../support/observe.js';

/*
 * The image cannot be built here (no Docker engine), so this runs what it would run: the
 * runtime stage's files, laid out as its COPY lines say (read from the Dockerfile), owned
 * by someone else and read-only, started as the image's numeric user with only a data
 * directory writable. As root (CI is) the processes really run as that uid/gid; otherwise
 * as the current user, against the same read-only tree. The tree is built here, into a
 * temporary directory (tsc, as `npm run build` does), so plain `npm test` needs no prior
 * build and the checkout's dist/ is left alone.
 */

const ROOT = path.resolve('.');
const runtimeStage = stages(parseDockerfile(await readFile('Dockerfile', 'utf8'))).at(-1)!;
const userLine = runtimeStage.instructions.filter((i) => i.keyword === 'USER').at(-1)!.args;
const [IMAGE_UID, IMAGE_GID] = userLine.split(':').map(Number) as [number, number];
const asRoot = process.getuid?.() === 0;
/** spawn options that drop to the image's user (only root may). */
const runAs = asRoot ? { uid: IMAGE_UID, gid: IMAGE_GID } : {};
const expectedUid = asRoot ? IMAGE_UID : process.getuid!();

let tmp: string;
let app: string;
let dataDir: string;
let databaseUrl: string;
const schema = `image_${process.pid}_${randomBytes(4).toString('hex')}`;
const prefix = `{image-${schema}}`;
let api: ChildProcess | undefined;

/** The environment the image gives a process, plus what compose/Helm would set. */
function imageEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: '/nonexistent',
    NODE_ENV: 'production',
    CUSTODY_DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    ...extra,
  };
}

const run = (args: string[], extra: Record<string, string> = {}) =>
  spawnSync(process.execPath, args, { cwd: app, env: imageEnv(extra), encoding: 'utf8', ...runAs });

/** As `run`, without blocking (rejects on a non-zero exit). */
const execAs = (args: string[]) =>
  promisify(execFile)(process.execPath, args, { cwd: app, env: imageEnv(), encoding: 'utf8', ...runAs });

async function walk(dir: string, visit: (file: string, isDir: boolean) => Promise<void>): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isSymbolicLink()) continue;
    if (entry.isDirectory()) await walk(full, visit);
    await visit(full, entry.isDirectory());
  }
}

/** Builds the runtime stage's /app from its COPY lines. */
async function layOut(): Promise<string[]> {
  const shipped: string[] = [];
  for (const ins of runtimeStage.instructions.filter((i) => i.keyword === 'COPY')) {
    const name = path.posix.relative('/app', parseCopy(ins.args).sources[0]!);
    shipped.push(name);
    const target = path.join(app, name);
    if (name === 'dist') {
      // Type errors are the type-check step's business; this needs the emitted JavaScript.
      await promisify(execFile)(
        process.execPath,
        ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json', '--outDir', target],
        { cwd: ROOT },
      ).catch((err: { stdout?: string }) => {
        if (!err.stdout) throw err;
      });
    } else if (name === 'node_modules') {
      // The checkout's (dev dependencies too); that dist/ needs only production ones is
      // checked below, from its imports.
      await symlink(path.join(ROOT, 'node_modules'), target, 'dir');
    } else {
      await cp(path.join(ROOT, name), target, { recursive: true });
    }
  }
  return shipped;
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'custody-image-'));
  await chmod(tmp, 0o755);
  app = path.join(tmp, 'app');
  await mkdir(app);
  await layOut();
  // Read-only to everyone (as root-owned files are to uid 10001 in the image).
  await walk(app, (file, isDir) => chmod(file, isDir ? 0o555 : 0o444));
  await chmod(app, 0o555);
  dataDir = path.join(tmp, 'data');
  await mkdir(dataDir, { mode: 0o700 });
  if (asRoot) await chown(dataDir, IMAGE_UID, IMAGE_GID);

  const client = new pg.Client(clientConfig(DATABASE_URL));
  await client.connect();
  const { rows } = await client.query<{ u: string }>('SELECT current_user AS u');
  await client.end();
  // Named in the URL, as compose and Helm do: uid 10001 has no passwd entry on this machine.
  const url = new URL(DATABASE_URL);
  url.username ||= rows[0]!.u;
  databaseUrl = url.toString();
}, 120_000);

afterAll(async () => {
  api?.kill('SIGKILL');
  const client = new pg.Client(clientConfig(DATABASE_URL));
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  for await (const keys of redis.scanStream({ match: `${prefix}:*`, count: 500 }))
    if ((keys as string[]).length) await redis.del(...(keys as string[]));
  redis.disconnect();
  if (tmp) {
    await walk(tmp, (file, isDir) => chmod(file, isDir ? 0o755 : 0o644)).catch(() => {});
    await chmod(app, 0o755).catch(() => {});
    await rm(tmp, { recursive: true, force: true });
  }
});

describe('the runtime stage run as the image’s non-root user', () => {
  it('runs as that user, and cannot change its own code', () => {
    const who = run(['-e', 'process.stdout.write(process.getuid() + ":" + process.getgid())']);
    expect(who.stdout).toBe(asRoot ? userLine : `${process.getuid!()}:${process.getgid!()}`);
    const write = run(['-e', "require('fs').writeFileSync('dist/src/cli/main.js', '')"]);
    expect(write.status).not.toBe(0);
    expect(write.stderr).toMatch(/EACCES|EROFS/);
  });

  it('answers every command’s --help with exit 0', async () => {
    const top = run(['bin/custody.js', '--help']);
    expect(top.status, top.stderr).toBe(0);
    const commands = [...top.stdout.matchAll(/^ {2}([a-z]+)\b/gm)]
      .map((m) => m[1]!)
      .filter((c) => c !== 'help');
    // The roles compose and Helm start, and the CLI tools.
    expect(commands).toEqual(
      expect.arrayContaining(['migrate', 'api', 'worker', 'start', 'decrypt', 'inspect', 'audit', 'keys']),
    );
    await Promise.all(
      commands.map(async (command) => {
        const { stdout } = await execAs(['bin/custody.js', command, '--help']);
        expect(stdout).toContain(`Usage: custody ${command}`);
      }),
    );
  });

  it('needs only production dependencies at runtime', async () => {
    const pkg = JSON.parse(await readFile('package.json', 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const allowed = new Set([...Object.keys(pkg.dependencies), ...builtinModules]);
    const missing = new Set<string>();
    const seen = new Set<string>();
    await walk(path.join(app, 'dist'), async (file, isDir) => {
      if (isDir || !file.endsWith('.js')) return;
      const code = await readFile(file, 'utf8');
      const specs = [
        ...code.matchAll(/^(?:import|export)\s[^;'"]*?\bfrom\s*['"]([^'"\n]+)['"]/gm),
        ...code.matchAll(/^import\s*['"]([^'"\n]+)['"]/gm),
        ...code.matchAll(/\bimport\(\s*['"]([^'"\n]+)['"]\s*\)/g),
      ];
      for (const [, spec] of specs) {
        if (spec!.startsWith('.') || spec!.startsWith('node:')) continue;
        const name = spec!.startsWith('@') ? spec!.split('/').slice(0, 2).join('/') : spec!.split('/')[0]!;
        seen.add(name);
        if (!allowed.has(name)) missing.add(`${name} (${path.relative(app, file)})`);
      }
    });
    expect([...missing]).toEqual([]);
    // The scan does find imports (a broken pattern would pass vacuously).
    expect([...seen]).toEqual(expect.arrayContaining(['pg', 'express', 'bullmq', 'commander']));
  });

  it('finds migrations/ from dist and applies them (`custody migrate`)', async () => {
    const r = run(['bin/custody.js', 'migrate'], { DATABASE_URL: databaseUrl, CUSTODY_DB_SCHEMA: schema });
    expect(r.status, r.stderr + r.stdout).toBe(0);
    const files = (await readdir('migrations')).filter((f) => f.endsWith('.sql'));
    const client = new pg.Client(clientConfig(DATABASE_URL));
    await client.connect();
    const { rows } = await client.query(`SELECT name FROM "${schema}".custody_migrations`);
    await client.end();
    expect(rows.length).toBe(files.length);
  });

  it('serves the API writing only to /data, passes its health check, reads policies/, drains on SIGTERM', async () => {
    const token = randomBytes(24).toString('base64url');
    const env = imageEnv({
      DATABASE_URL: databaseUrl,
      CUSTODY_DB_SCHEMA: schema,
      REDIS_URL,
      CUSTODY_QUEUE_PREFIX: prefix,
      CUSTODY_ADMIN_TOKEN: token,
      CUSTODY_SECRETS_KEY: randomBytes(32).toString('base64'),
      CUSTODY_LINK_SIGNING_KEYS: `k1:${randomBytes(32).toString('base64')}`,
      PORT: '0',
    });
    const child = spawn(process.execPath, ['bin/custody.js', 'api'], { cwd: app, env, ...runAs });
    api = child;
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString('utf8');
    });
    child.stderr!.on('data', (c: Buffer) => {
      out += c.toString('utf8');
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const port = await waitUntil('custody started', async () => {
      const line = out.split('\n').find((l) => l.includes('"msg":"custody started"'));
      if (child.exitCode !== null) throw new Error(`custody api exited ${child.exitCode}: ${out}`);
      return line ? (JSON.parse(line) as { port: number }).port : undefined;
    });
    const base = `http://127.0.0.1:${port}`;

    // The Dockerfile's HEALTHCHECK, as the image's user.
    const healthEnv = { PORT: String(port), CUSTODY_WORKER_METRICS_PORT: String(port) };
    expect(run(['bin/healthcheck.js'], healthEnv).status).toBe(0);

    const call = (method: string, url: string, json?: unknown) =>
      fetch(`${base}${url}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: json === undefined ? undefined : JSON.stringify(json),
      });
    expect((await call('POST', '/v1/tenants', { id: 'image', name: 'Image', retention: 'P1D' })).status).toBe(
      201,
    );
    // The local provider's handshake writes its key and a probe object under /data.
    const storage = await call('PUT', '/v1/tenants/image/storage', { provider: 'local' });
    expect(storage.status, await storage.clone().text()).toBe(200);
    // Filled in from policies/aws/*.json, read at runtime.
    const setup = await call('GET', '/v1/tenants/image/storage/aws-setup');
    expect(setup.status).toBe(200);
    expect((await setup.json()) as object).toHaveProperty('trustPolicy.Statement');

    const key = await stat(path.join(dataDir, 'local-master.key'));
    expect(key.uid).toBe(expectedUid);
    expect(key.mode & 0o077).toBe(0);

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    api = undefined;
    // Nothing listening: the health check reports it.
    expect(run(['bin/healthcheck.js'], healthEnv).status).toBe(1);
  });
});
