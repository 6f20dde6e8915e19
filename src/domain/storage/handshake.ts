import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { bufferSource, createEncryptStream, openMessage } from '../../crypto/index.js';
import { KeyProviderError, StorageError } from '../../errors.js';
import { adviceFor } from './handshake-advice.js';
import type { ResolvedStorage } from './resolver.js';

export interface HandshakeStep {
  name: string;
  ok: boolean;
  ms: number;
  error?: { code: string; message: string };
}

export interface Handshake {
  ok: boolean;
  steps: HandshakeStep[];
}

/** Tells the tenant what to fix without echoing upstream response bodies. */
function describe(step: string, err: unknown): { code: string; message: string } {
  if (err instanceof StorageError || err instanceof KeyProviderError) {
    const advice = adviceFor(step, err.code);
    return { code: err.code, message: advice ? `${err.message}. ${advice}` : err.message };
  }
  return { code: 'UNEXPECTED', message: 'The step failed unexpectedly; see the service logs for details.' };
}

/**
 * The test-encrypt handshake run before a storage version is activated: it does, on a
 * small probe, everything a recording's journey does — get credentials (AWS: assume the
 * tenant's role), wrap a data key under the tenant's key, put the object, head it, read
 * it back, unwrap and decrypt it, delete it. Steps named by the provider plan say which
 * call failed (`kms-generate-data-key`); the first failing step names what to fix.
 */
export async function runHandshake(
  storage: ResolvedStorage,
  onError?: (err: unknown) => void,
): Promise<Handshake> {
  const steps: HandshakeStep[] = [];
  const probeId = `handshake-${randomBytes(8).toString('hex')}`;
  const key = `_custody/${probeId}.esdk`;
  const context = { 'custody:tenant': storage.tenantId, 'custody:recording': probeId };
  const plaintext = randomBytes(1024);
  let ciphertext = Buffer.alloc(0);
  let fetched = Buffer.alloc(0);
  let stored = false;

  const step = async (name: string, fn: () => Promise<void>): Promise<boolean> => {
    const started = performance.now();
    try {
      await fn();
      steps.push({ name, ok: true, ms: Math.round(performance.now() - started) });
      return true;
    } catch (err) {
      onError?.(err);
      steps.push({
        name,
        ok: false,
        ms: Math.round(performance.now() - started),
        error: describe(name, err),
      });
      return false;
    }
  };

  const names = storage.plan.handshake;
  const { keyCheck } = names;
  let ok = true;
  for (const pre of names.preflight ?? []) {
    ok = await step(pre.name, () => pre.run(storage));
    if (!ok) break;
  }
  ok =
    ok &&
    (keyCheck === undefined || (await step(keyCheck, async () => storage.keys.check?.()))) &&
    (await step(names.wrap, async () => {
      if (keyCheck === undefined) await storage.keys.check?.();
      const enc = await createEncryptStream({ keyring: storage.keys.keyring(), context });
      ciphertext = Buffer.concat(await Readable.from([plaintext]).pipe(enc).toArray());
    })) &&
    (await step('put-probe', async () => {
      await storage.target.put(key, Readable.from([ciphertext]), { contentLength: ciphertext.length });
      stored = true;
    })) &&
    (names.worm === undefined ||
      storage.target.checkWorm === undefined ||
      (await step(names.worm, async () => storage.target.checkWorm?.()))) &&
    (!names.headProbe ||
      (await step('head-probe', async () => {
        const info = await storage.target.head(key);
        if (info?.size !== ciphertext.length)
          throw new StorageError(
            'transient',
            'ProbeMismatch',
            info
              ? `the probe is listed with ${info.size} bytes, ${ciphertext.length} were written`
              : 'the probe just written cannot be found (HEAD answered 404)',
          );
      }))) &&
    (await step('get-probe', async () => {
      fetched = Buffer.concat(await (await storage.target.get(key)).toArray());
      if (!fetched.equals(ciphertext))
        throw new StorageError(
          'transient',
          'ProbeMismatch',
          'the probe read back differs from what was written',
        );
    })) &&
    (await step(names.unwrap, async () => {
      const opened = await openMessage(bufferSource(fetched), {
        keyring: storage.keys.keyring(),
        expectedContext: context,
      });
      const back = Buffer.concat(await opened.stream().toArray());
      if (!back.equals(plaintext))
        throw new KeyProviderError('tenant', 'ProbeMismatch', 'the probe decrypted to different bytes');
    })) &&
    (await step('delete-probe', async () => {
      await storage.target.delete(key);
      stored = false;
    }));

  if (stored) await storage.target.delete(key).catch(() => {});
  return { ok, steps };
}
