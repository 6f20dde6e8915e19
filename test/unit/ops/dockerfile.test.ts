import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  execForm,
  type Instruction,
  keyValues,
  parseCopy,
  parseDockerfile,
  type Stage,
  stages,
  splitFlags,
} from '../../support/dockerfile.js';

/*
 * No Docker engine runs here, so the image is never built in the tests: its Dockerfile
 * is parsed and held to the rules below instead, and test/unit/ops/non-root.test.ts runs
 * the runtime stage's file layout as the image's user.
 */

const read = (file: string) => readFileSync(path.resolve(file), 'utf8');
const dockerfileText = read('Dockerfile');
const instructions = parseDockerfile(dockerfileText);
const allStages = stages(instructions);
const runtime = allStages.at(-1)!;
const pkg = JSON.parse(read('package.json')) as { bin: Record<string, string> };

const of = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);
const stageNamed = (name: string) => allStages.find((s) => s.name === name);

/** An exact release: `name:1.2.3[-variant][@sha256:…]`; no `latest`, no `22`, no `22-slim`. */
const PINNED = /^[a-z0-9][\w./-]*:\d+\.\d+\.\d+(?:-[a-z0-9][\w.-]*)?(?:@sha256:[0-9a-f]{64})?$/;
const SECRET_NAME = /TOKEN|SECRET|KEY|PASSWORD|PASSWD|CREDENTIAL|PRIVATE/i;

/**
 * What the runtime stage must ship, decided by reading the code (a grep for
 * `import.meta.url` and `readFileSync`): `dist/` (compiled src and workers), production
 * `node_modules/`, `bin/` (custody.js imports dist/src/cli/main.js; healthcheck.js),
 * `package.json` ("type": "module" makes bin/*.js ES modules), `migrations/`
 * (src/db/migrate.ts resolves ../../../migrations from dist) and `policies/`
 * (src/domain/storage/aws-setup.ts reads policies/aws/*.json). docs/ is not needed: the
 * published JSON Schema is served from code (`metadataJsonSchema`), not from a file.
 */
const RUNTIME_FILES = ['bin', 'dist', 'migrations', 'node_modules', 'package.json', 'policies'];

describe('the Dockerfile parser', () => {
  it('joins continuations, drops comment and blank lines, reads flags, key-values and exec form', () => {
    const parsed = parseDockerfile(
      [
        '# syntax=docker/dockerfile:1',
        'from node:1.2.3-slim AS Build',
        'RUN a \\',
        '  # a comment inside the continuation',
        '',
        '  && b',
        'ENV A=1 B="two words"',
        'ENV LEGACY some value',
        'ARG BARE',
        'COPY --from=build --chown=1:1 /app/x /app/y ./',
        'CMD ["start", "--flag"]',
      ].join('\n'),
    );
    expect(parsed.map((i: Instruction) => [i.keyword, i.args, i.line])).toEqual([
      ['FROM', 'node:1.2.3-slim AS Build', 2],
      ['RUN', 'a && b', 3],
      ['ENV', 'A=1 B="two words"', 7],
      ['ENV', 'LEGACY some value', 8],
      ['ARG', 'BARE', 9],
      ['COPY', '--from=build --chown=1:1 /app/x /app/y ./', 10],
      ['CMD', '["start", "--flag"]', 11],
    ]);
    expect(stages(parsed)[0]).toMatchObject({ base: 'node:1.2.3-slim', name: 'build' });
    expect([...keyValues('A=1 B="two words"')]).toEqual([
      ['A', '1'],
      ['B', 'two words'],
    ]);
    expect([...keyValues('LEGACY some value')]).toEqual([['LEGACY', 'some value']]);
    expect([...keyValues('BARE')]).toEqual([['BARE', undefined]]);
    expect(parseCopy('--from=build --chown=1:1 /app/x /app/y ./')).toEqual({
      from: 'build',
      flags: { from: 'build', chown: '1:1' },
      sources: ['/app/x', '/app/y'],
      dest: './',
    });
    expect(splitFlags('--interval=30s CMD ["node"]')).toEqual({
      flags: { interval: '30s' },
      rest: 'CMD ["node"]',
    });
    expect(execForm('["start", "--flag"]')).toEqual(['start', '--flag']);
    expect(execForm('start --flag')).toBeUndefined();
  });
});

describe('Dockerfile', () => {
  it('uses the default escape character (what the parser understands)', () => {
    expect(dockerfileText).not.toMatch(/^#\s*escape\s*=/im);
  });

  it('is multi-stage, and every FROM is an earlier stage or an image pinned to an exact release', () => {
    expect(allStages.length).toBeGreaterThanOrEqual(2);
    const seen = new Set<string>();
    const images = new Set<string>();
    for (const stage of allStages) {
      if (!seen.has(stage.base.toLowerCase())) {
        expect(stage.base, `FROM ${stage.base}`).toMatch(PINNED);
        expect(stage.base).not.toMatch(/\$/); // no build argument can swap the base
        images.add(stage.base);
      }
      if (stage.name) seen.add(stage.name);
    }
    // Built and run on the same Node release and Debian: node_modules' native parts match.
    expect(images.size).toBe(1);
    expect([...images][0]).toMatch(/^node:\d+\.\d+\.\d+-bookworm-slim(@sha256:[0-9a-f]{64})?$/);
  });

  it('builds with the lockfile, compiles, and ships only production dependencies', () => {
    const build = stageNamed('build')!;
    const runs = (s: Stage) => of(s, 'RUN').map((i) => i.args);
    expect(runs(build)).toContain('npm ci --no-audit --no-fund');
    expect(runs(build)).toContain('npm run build');
    const deps = stageNamed('prod-deps')!;
    expect(runs(deps).some((r) => /^npm prune --omit=dev\b/.test(r))).toBe(true);
    const modules = of(runtime, 'COPY')
      .map((i) => parseCopy(i.args))
      .find((c) => c.sources.includes('/app/node_modules'));
    expect(modules?.from).toBe('prod-deps');
  });

  it('copies exactly what the code reads at runtime into the runtime stage, root-owned', () => {
    const copies = of(runtime, 'COPY').map((i) => parseCopy(i.args));
    const shipped = copies.flatMap((c) => {
      // Each from an earlier stage, to its own name under /app (the paths the code resolves).
      expect(c.from, `COPY ${c.sources.join(' ')}`).toBeDefined();
      expect(c.flags.chown, 'the service user must not own its code').toBeUndefined();
      expect(c.sources).toHaveLength(1);
      const name = path.posix.relative('/app', c.sources[0]!);
      expect(path.posix.normalize(c.dest)).toBe(name);
      return [name];
    });
    expect(shipped.sort()).toEqual(RUNTIME_FILES);
    expect(of(runtime, 'WORKDIR').map((i) => i.args)).toEqual(['/app']);
    expect(of(runtime, 'ADD')).toEqual([]);
    // The files those code paths open are where they look.
    for (const file of [
      'bin/custody.js',
      'bin/healthcheck.js',
      'policies/aws/trust-policy.json',
      'policies/aws/permissions-policy.json',
      'policies/aws/permissions-policy-object-lock.json',
      'policies/aws/key-policy-statement.json',
    ])
      expect(existsSync(file), file).toBe(true);
    expect(read('bin/custody.js')).toContain("import '../dist/src/cli/main.js'");
    expect(read('src/db/migrate.ts')).toContain("'../../../migrations'");
    expect(read('src/domain/storage/aws-setup.ts')).toContain("'../../../../policies/aws'");
  });

  it('runs as a numeric non-root user, set before the entry point', () => {
    const users = of(runtime, 'USER');
    expect(users.length).toBeGreaterThan(0);
    const last = users.at(-1)!;
    expect(last.args).toMatch(/^\d+:\d+$/);
    const [uid, gid] = last.args.split(':').map(Number);
    expect(uid).toBeGreaterThan(0);
    expect(gid).toBeGreaterThan(0);
    for (const keyword of ['ENTRYPOINT', 'CMD', 'HEALTHCHECK']) {
      const ins = of(runtime, keyword).at(-1)!;
      expect(ins, keyword).toBeDefined();
      expect(ins.line, `${keyword} after USER`).toBeGreaterThan(last.line);
    }
    // Every stage that other tools run (the dev stand-ins) drops root too.
    expect(of(stageNamed('dev')!, 'USER').at(-1)?.args).toBe(last.args);
  });

  it('starts the package’s bin with node, `start` by default, and stops on SIGTERM', () => {
    expect(execForm(of(runtime, 'ENTRYPOINT').at(-1)!.args)).toEqual(['node', pkg.bin.custody]);
    expect(execForm(of(runtime, 'CMD').at(-1)!.args)).toEqual(['start']);
    expect(of(runtime, 'STOPSIGNAL').map((i) => i.args)).toEqual(['SIGTERM']);
  });

  it('checks health with node (no curl in slim) through a script the image ships', () => {
    const { flags, rest } = splitFlags(of(runtime, 'HEALTHCHECK').at(-1)!.args);
    expect(Object.keys(flags).sort()).toEqual(['interval', 'retries', 'start-period', 'timeout']);
    expect(rest.startsWith('CMD ')).toBe(true);
    const cmd = execForm(rest.slice(4))!;
    expect(cmd).toEqual(['node', 'bin/healthcheck.js']);
    expect(read('bin/healthcheck.js')).toMatch(/\/healthz/);
  });

  it('sets production, keeps state in the /data volume only, and writes no secret into the image', () => {
    const env = new Map(of(runtime, 'ENV').flatMap((i) => [...keyValues(i.args)]));
    expect(env.get('NODE_ENV')).toBe('production');
    expect(env.get('CUSTODY_DATA_DIR')).toBe('/data');
    expect(of(runtime, 'VOLUME').map((i) => execForm(i.args))).toEqual([['/data']]);
    for (const stage of allStages) {
      for (const ins of [...of(stage, 'ENV'), ...of(stage, 'ARG')]) {
        for (const [name, value] of keyValues(ins.args)) {
          if (SECRET_NAME.test(name))
            expect(value ?? '', `${ins.keyword} ${name} (line ${ins.line})`).toBe('');
        }
      }
      for (const ins of of(stage, 'ADD')) expect(ins.args).not.toMatch(/(https?|ftp|git):\/\/|git@/);
    }
  });

  it('.dockerignore keeps local state, secrets, VCS data and test keys out of the build context', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const entry of ['node_modules', 'dist', 'data', '.env', '.git', 'test'])
      expect(ignored, entry).toContain(entry);
    // The fixtures really hold private keys: that is why test/ stays out.
    expect(read('test/fixtures/tls/server.key')).toContain('PRIVATE KEY');
  });
});

describe('compose.yaml', () => {
  const compose = read('compose.yaml');
  /** The text of one top-level service (plain text: no YAML parser is a dependency). */
  const service = (name: string) => {
    const m = new RegExp(`^  ${name}:\\n((?:    .*\\n|\\s*\\n)*)`, 'm').exec(compose);
    expect(m, `service ${name}`).not.toBeNull();
    return m![1]!;
  };
  const anchor = /^x-custody: &custody\n((?: {2}.*\n|\s*\n)*)/m.exec(compose)?.[1] ?? '';

  it('has PostgreSQL (with a health check), Redis, the migrations, the API, a worker and the stand-ins', () => {
    for (const name of ['postgres', 'redis', 'migrate', 'api', 'worker', 's3rver', 'azurite']) service(name);
    expect(service('postgres')).toContain('pg_isready');
    expect(service('redis')).toContain('redis-cli');
  });

  it('runs one image for every role, the command picking it', () => {
    for (const [name, role] of [
      ['migrate', 'migrate'],
      ['api', 'api'],
      ['worker', 'worker'],
    ] as const) {
      const text = service(name);
      expect(text).toContain('<<: *custody');
      expect(text).toContain(`command: ["${role}"]`);
    }
    expect(anchor).toContain('target: runtime');
    expect(service('migrate')).toContain('service_healthy');
    for (const name of ['api', 'worker']) {
      expect(service(name)).toContain('service_completed_successfully');
      // The API spools, the worker sends on: both need the same /data.
      expect(service(name)).toContain('- custody-data:/data');
    }
  });

  it('hardens every container it builds: non-root, read-only root, no capabilities, no new privileges', () => {
    for (const text of [anchor, service('s3rver'), service('azurite')]) {
      expect(text).toContain('user: "10001:10001"');
      expect(text).toContain('read_only: true');
      expect(text).toMatch(/tmpfs:\n\s+- \/tmp/);
      expect(text).toMatch(/security_opt:\n\s+- no-new-privileges:true/);
      expect(text).toMatch(/cap_drop:\n\s+- ALL/);
    }
    for (const name of ['s3rver', 'azurite']) expect(service(name)).toContain('target: dev');
  });

  it('pins every third-party image to an exact release', () => {
    const images = [...compose.matchAll(/^\s+image: (\S+)$/gm)].map((m) => m[1]!);
    const thirdParty = images.filter((i) => !i.startsWith('custody'));
    expect(thirdParty.length).toBe(2);
    for (const image of thirdParty) {
      // PostgreSQL (since 10) numbers a release major.minor: `15.20` is exact, `15` floats.
      const exact = image.startsWith('postgres:') ? image.replace(/^(postgres:\d+\.\d+)/, '$1.0') : image;
      expect(exact, image).toMatch(PINNED);
    }
  });

  it('takes every secret from an uncommitted .env, documented empty in .env.example', () => {
    const required = new Set([...compose.matchAll(/\$\{([A-Z_]+):\?/g)].map((m) => m[1]!));
    expect([...required].sort()).toEqual([
      'CUSTODY_ADMIN_TOKEN',
      'CUSTODY_LINK_SIGNING_KEYS',
      'CUSTODY_SECRETS_KEY',
      'POSTGRES_PASSWORD',
    ]);
    const example = read('.env.example');
    for (const name of required) expect(example).toMatch(new RegExp(`^${name}=$`, 'm'));
    // Nothing in the example carries a value: it is committed.
    expect(example).not.toMatch(/^[A-Z_]+=\S/m);
    expect(read('.gitignore').split('\n')).toContain('.env');
  });
});
