import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defineConfig } from 'vitest/config';

/**
 * The local HTTPS stand-ins (Entra ID, Key Vault, Azurite in OAuth mode) use a test-only
 * CA. Node reads NODE_EXTRA_CA_CERTS once, at start: set here, before the forked test
 * workers (and the processes they spawn) start, it is in their environment. A bundle
 * keeps whatever extra CAs the machine already configured.
 */
function trustTestCa(): string {
  const testCa = readFileSync(path.resolve('test/fixtures/tls/ca.pem'), 'utf8');
  const existing = process.env.NODE_EXTRA_CA_CERTS;
  let bundle = testCa;
  if (existing && !path.basename(existing).startsWith('custody-test-ca-bundle')) {
    try {
      bundle = `${readFileSync(existing, 'utf8')}\n${testCa}`;
    } catch {
      // An unreadable file is what Node would have ignored too (with a warning).
    }
  }
  // Named by content: every run with the same CAs reuses one file.
  const digest = createHash('sha256').update(bundle).digest('hex').slice(0, 12);
  const file = path.join(os.tmpdir(), `custody-test-ca-bundle-${digest}.pem`);
  writeFileSync(file, bundle);
  return file;
}
process.env.NODE_EXTRA_CA_CERTS = trustTestCa();

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration files each get their own database schema, queue prefix and
    // directories, so they may run side by side; two cores make two workers enough.
    maxWorkers: 2,
  },
});
