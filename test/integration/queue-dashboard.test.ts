import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, setupTenant } from '../support/client.js';
import { ADMIN_TOKEN, type Harness, startHarness } from '../support/harness.js';

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('queue dashboard (/admin/queues)', () => {
  let off: Harness;
  let on: Harness;

  beforeAll(async () => {
    off = await startHarness({ workers: false });
    on = await startHarness({ workers: false, env: { CUSTODY_QUEUE_DASHBOARD: 'on' } });
  });
  afterAll(async () => {
    await off?.close();
    await on?.close();
  });

  it('is not there unless the operator turns it on', async () => {
    const res = await api(off, 'GET', '/admin/queues');
    expect(res.status).toBe(404);
  });

  it('asks a browser for the operator token and refuses anything else', async () => {
    const none = await api(on, 'GET', '/admin/queues', { token: null });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    const wrong = await api(on, 'GET', '/admin/queues', {
      token: null,
      headers: { authorization: basic('operator', 'not-the-token') },
    });
    expect(wrong.status).toBe(401);
    const { key } = await setupTenant(on, 'qd-tenant');
    expect((await api(on, 'GET', '/admin/queues', { token: key })).status).toBe(401);
  });

  it('serves the dashboard and the queue list to the operator', async () => {
    const page = await api(on, 'GET', '/admin/queues', {
      token: null,
      headers: { authorization: basic('operator', ADMIN_TOKEN) },
    });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const list = await api(on, 'GET', '/admin/queues/api/queues');
    expect(list.status).toBe(200);
    const names = (list.body.queues as { name: string; readOnlyMode: boolean }[]).map((q) => q.name);
    expect(names).toEqual(expect.arrayContaining(['transfer', 'delete', 'maintenance']));
    expect((list.body.queues as { readOnlyMode: boolean }[]).every((q) => q.readOnlyMode)).toBe(true);
  });
});
