import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { expect, it } from 'vitest';

it('the test workers trust the test CA (NODE_EXTRA_CA_CERTS), so stand-ins can serve HTTPS', async () => {
  const server = https.createServer(
    { cert: readFileSync('test/fixtures/tls/server.pem'), key: readFileSync('test/fixtures/tls/server.key') },
    (_req, res) => res.end('ok'),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const { port } = server.address() as AddressInfo;
    const res = await fetch(`https://127.0.0.1:${port}/`);
    expect(await res.text()).toBe('ok');
  } finally {
    server.close();
  }
});
