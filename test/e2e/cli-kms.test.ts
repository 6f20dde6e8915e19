import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { type CliResult, expectOneLineError, runCustody } from '../support/cli-run.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createEncryptStream } from '../../src/crypto/index.js';
import { AwsKmsKeyProvider } from '../../src/keys/aws-kms/index.js';
import { type AwsStandIn, startAwsStandIn } from '../support/aws-standin.js';

// Not us-east-1 (AWS_REGION): the CLI's KMS client must take the region from the key ARN.
const REGION = 'eu-west-1';

type Result = CliResult;

describe('custody decrypt|inspect --kms against the AWS stand-in', () => {
  let aws: AwsStandIn;
  let dir: string;
  let keyArn: string;
  let object: string;
  const audio = randomBytes(300_000);
  const context = { 'custody:tenant': 'acme', 'custody:recording': 'rec_cli_kms' };

  /** `custody …` as a tenant would run it: own long-term AWS credentials, no session token. */
  async function custody(args: string[]): Promise<Result> {
    const env = {
      PATH: process.env.PATH!,
      HOME: dir, // no ~/.aws: only the env credentials below
      ...aws.env(),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    return runCustody(args, env);
  }

  beforeAll(async () => {
    aws = await startAwsStandIn();
    dir = await mkdtemp(path.join(tmpdir(), 'custody-cli-kms-'));
    keyArn = aws.createKey(REGION);
    const env = aws.env();
    const provider = new AwsKmsKeyProvider({
      kmsKeyArn: keyArn,
      region: REGION,
      endpoint: aws.endpoint,
      credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY },
    });
    const enc = await createEncryptStream({ keyring: provider.keyring(), context, frameLength: 64 * 1024 });
    object = path.join(dir, 'object.esdk');
    await writeFile(object, await buffer(Readable.from([audio]).pipe(enc)));
  });
  afterAll(async () => {
    await aws?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    aws.enable(keyArn);
    aws.allow(keyArn);
    aws.resetCounts();
  });

  it('decrypts the whole object and a range, in the key ARN’s region, with one KMS Decrypt each', async () => {
    const out = path.join(dir, 'plain.wav');
    const [whole, part] = await Promise.all([
      custody(['decrypt', object, '-o', out, '--kms']),
      custody(['decrypt', object, '--range', '100000-200099', '--kms', '--kms-key-arn', keyArn]),
    ]);
    expect(whole).toMatchObject({ code: 0, stderr: '' });
    expect((await readFile(out)).equals(audio)).toBe(true);
    expect(part.code).toBe(0);
    expect(part.stdout.equals(audio.subarray(100_000, 200_100))).toBe(true);
    const decrypts = aws.callsOf('Decrypt');
    expect(decrypts).toHaveLength(2);
    for (const call of decrypts) {
      expect(call).toMatchObject({ keyId: keyArn, region: REGION, callerRole: undefined });
      expect(call.encryptionContext).toMatchObject(context);
    }
  });

  it('inspect --kms authenticates every frame and prints the header', async () => {
    const r = await custody(['inspect', object, '--kms']);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout.toString());
    expect(info).toMatchObject({ authenticated: true, plaintextLength: audio.length, context });
    expect(aws.counts.Decrypt).toBe(1);
  });

  it('a disabled or denied key: non-zero exit, one line naming the AWS error, no output file', async () => {
    aws.disable(keyArn);
    const out = path.join(dir, 'disabled.wav');
    const [dec, insp] = await Promise.all([
      custody(['decrypt', object, '-o', out, '--kms']),
      custody(['inspect', object, '--kms']),
    ]);
    expectOneLineError(dec, /^custody: .*DisabledException/);
    expect(dec.stderr).toContain(keyArn);
    expect(dec.stdout.length).toBe(0);
    expect(existsSync(out)).toBe(false);
    expectOneLineError(insp, /DisabledException/);
    expect(insp.stdout.length).toBe(0);

    aws.enable(keyArn);
    aws.deny(keyArn);
    const denied = await custody(['decrypt', object, '--kms']);
    expectOneLineError(denied, /AccessDeniedException/);
    expect(denied.stdout.length).toBe(0);
  });

  it('--kms-key-arn restricts the keys tried: another key makes no KMS call', async () => {
    const other = aws.createKey(REGION);
    const r = await custody(['decrypt', object, '--kms', '--kms-key-arn', other]);
    expectOneLineError(r, /none of the given --kms-key-arn/);
    expect(r.stdout.length).toBe(0);
    expect(aws.counts.Decrypt).toBe(0);
  });

  it('throttling is retried by the SDK; a lasting KMS failure names its error', async () => {
    aws.failNext('Decrypt', 'ThrottlingException');
    const ok = await custody(['decrypt', object, '--kms']);
    expect(ok.code).toBe(0);
    expect(ok.stdout.equals(audio)).toBe(true);
    expect(aws.counts.Decrypt).toBe(2);
    aws.failNext('Decrypt', 'KMSInternalException', 10);
    expectOneLineError(await custody(['decrypt', object, '--kms']), /KMSInternalException/);
  });

  it('exactly one key source: none, both, or --kms-key-arn without --kms is a usage error', async () => {
    const keyFile = path.join(dir, 'local.key');
    await writeFile(keyFile, randomBytes(32));
    const [none, both, stray] = await Promise.all([
      custody(['decrypt', object]),
      custody(['decrypt', object, '--kms', '--local-key-file', keyFile, '--tenant', 'acme']),
      custody(['inspect', object, '--kms-key-arn', keyArn]),
    ]);
    expectOneLineError(none, /give a key: --local-key-file <path> --tenant <id>, or --kms/);
    expectOneLineError(both, /exactly one key source/);
    expectOneLineError(stray, /--kms-key-arn needs --kms/);
    expect(aws.counts.Decrypt).toBe(0);
  });
});
