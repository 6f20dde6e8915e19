import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { KeyProvider, KeyProviderFactory } from '../src/keys/key-provider.js';
import { LocalKeyProviderFactory, MASTER_KEY_BYTES } from '../src/keys/local/index.js';
import { KeyProviderRegistry } from '../src/keys/registry.js';
import { api, setupTenant } from '../test/support/client.js';
import { CountingKeyring } from '../test/support/counting-keyring.js';
import type { Harness, HarnessOptions } from '../test/support/harness.js';
import {
  isMain,
  KiB,
  MiB,
  post,
  progress,
  quick,
  recordingHeaders,
  runPool,
  startBenchHarness,
  waitStored,
} from './common.js';
import { type BenchRow, printTable } from './table.js';

/**
 * The `local` key provider with every keyring it hands out wrapped in a CountingKeyring:
 * wraps and unwraps are counted at the provider, where AWS KMS or Key Vault would bill.
 */
export class CountingLocalFactory implements KeyProviderFactory<object> {
  readonly kind = 'local';
  readonly keyrings: CountingKeyring[] = [];
  readonly #inner: LocalKeyProviderFactory;

  constructor(masterKey: Buffer) {
    this.#inner = new LocalKeyProviderFactory(masterKey);
  }

  async create(tenantId: string, config: object): Promise<KeyProvider> {
    const inner = await this.#inner.create(tenantId, config);
    const counting = new CountingKeyring(inner.keyring());
    this.keyrings.push(counting);
    return { kind: inner.kind, keyId: inner.keyId, keyring: () => counting };
  }

  get wraps(): number {
    return this.keyrings.reduce((n, k) => n + k.encryptCalls, 0);
  }

  get unwraps(): number {
    return this.keyrings.reduce((n, k) => n + k.decryptCalls, 0);
  }
}

export interface CountingHarness {
  h: Harness;
  counter: CountingLocalFactory;
  close(): Promise<void>;
}

/**
 * A bench harness whose `local` provider counts calls. The master key lives in a file of
 * our own (`CUSTODY_LOCAL_KEY_FILE`) so the factory can be built before the harness.
 */
export async function startCountingHarness(opts: HarnessOptions = {}): Promise<CountingHarness> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'custody-bench-key-'));
  const keyFile = path.join(dir, 'local-master.key');
  const master = randomBytes(MASTER_KEY_BYTES);
  await writeFile(keyFile, master, { mode: 0o600 });
  const counter = new CountingLocalFactory(master);
  const keyProviders = new KeyProviderRegistry().register(counter);
  try {
    const h = await startBenchHarness({
      ...opts,
      env: { CUSTODY_LOCAL_KEY_FILE: keyFile, ...opts.env },
      overrides: { ...opts.overrides, keyProviders },
    });
    return {
      h,
      counter,
      async close() {
        try {
          await h.close();
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Sizes around frame boundaries (256 KiB frames) and a few MiB. */
const SIZES = [1, KiB, 256 * KiB - 1, 256 * KiB, 256 * KiB + 1, MiB + 7, 3 * MiB + 12345];

/**
 * Posts `count` recordings of mixed sizes and counts the provider's wraps once they are
 * all stored (after registration, whose handshake wraps once too); then plays each
 * back twice to show the unwraps (the data-key cache should make it one per object).
 */
export async function runWrapBench(opts: { count?: number } = {}): Promise<BenchRow[]> {
  const count = opts.count ?? 100;
  const { h, counter, close } = await startCountingHarness();
  try {
    const { key } = await setupTenant(h, 'bench-wraps');
    const afterRegistration = { wraps: counter.wraps, unwraps: counter.unwraps };
    progress(`wraps: registration handshake wrapped ${afterRegistration.wraps} time(s)`);
    const bodies = SIZES.map((n) => randomBytes(n));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const ids: string[] = [];
    try {
      await runPool(count, 8, async (i) => {
        const r = await post(`${h.url}/v1/recordings?callId=wraps-${i}`, bodies[i % bodies.length]!, {
          agent,
          headers: recordingHeaders(key),
        });
        if (r.status !== 202) throw new Error(`POST ${r.status} ${r.body}`);
        ids[i] = JSON.parse(r.body.toString()).id;
      });
    } finally {
      agent.destroy();
    }
    await waitStored(h.ctx.db, 'bench-wraps', count, 120_000);
    const wraps = counter.wraps - afterRegistration.wraps;
    const unwrapsBefore = counter.unwraps;
    // Two playbacks of each recording: unwraps at the provider (the rest hit the cache).
    const played = ids.slice(0, Math.min(ids.length, 20));
    for (const id of played) {
      const link = await api(h, 'POST', `/v1/recordings/${id}/playback-link`, { token: key, json: {} });
      if (link.status !== 201) throw new Error(`playback-link ${link.status}`);
      for (let k = 0; k < 2; k++) {
        const res = await fetch(link.body.url);
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`playback ${res.status}`);
      }
    }
    const unwraps = counter.unwraps - unwrapsBefore;
    const perRecording = wraps / count;
    return [
      {
        name: `wraps: key-provider wraps per recording (${count} mixed sizes)`,
        value: perRecording,
        unit: 'wraps/rec',
        target: '= 1',
        ok: wraps === count,
      },
      { name: 'wraps: registration handshake wraps', value: afterRegistration.wraps, unit: 'wraps' },
      {
        name: `wraps: unwraps per recording, 2 playbacks each (${played.length})`,
        value: unwraps / played.length,
        unit: 'unwraps/rec',
      },
    ];
  } finally {
    await close();
  }
}

if (isMain(import.meta.url)) {
  const rows = await runWrapBench({ count: quick() ? 30 : 100 });
  printTable('key-provider calls', rows);
}
