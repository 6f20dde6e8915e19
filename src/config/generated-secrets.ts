import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Logger } from 'pino';
import { readOrCreate } from '../util/create-once.js';
import type { Config } from './index.js';
import { parseKey32, parseLinkSigningKeys } from './keys-parsing.js';

/**
 * Outside production, link-signing keys and the secrets key may be left unset: they
 * are generated once into the data directory and shared by every process of the
 * checkout (API and workers must agree on them).
 */
export async function ensureGeneratedSecrets(config: Config, log: Logger): Promise<void> {
  if (!config.linkSigningKeys) {
    const file = path.join(config.dataDir, 'link-signing-keys');
    const { contents, created } = await readOrCreate(file, () =>
      Buffer.from(`k1:${randomBytes(32).toString('base64')}\n`),
    );
    const r = parseLinkSigningKeys(contents.toString('utf8').trim());
    if (!r.keys) throw new Error(`${file}: ${r.problem}`);
    config.linkSigningKeys = r.keys;
    if (created)
      log.warn({ file }, 'generated playback-link signing keys; set CUSTODY_LINK_SIGNING_KEYS in production');
  }
  if (!config.secretsKey) {
    const file = path.join(config.dataDir, 'secrets.key');
    const { contents, created } = await readOrCreate(file, () =>
      Buffer.from(`${randomBytes(32).toString('base64')}\n`),
    );
    const r = parseKey32(contents.toString('utf8').trim());
    if (!r.key) throw new Error(`${file}: ${r.problem}`);
    config.secretsKey = r.key;
    if (created) {
      log.warn(
        { file },
        'generated CUSTODY_SECRETS_KEY: it encrypts the spool and stored tenant secrets; back it up and set it explicitly in production',
      );
    }
  }
}
