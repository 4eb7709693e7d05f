import { expect, it } from 'vitest';
import { newId } from '../../src/platform/ids.js';
import { displayPrefixOf, hashApiKey } from '../../src/platform/security/api-key.js';
import { describeOnEachDatabase, OTHER_TENANT_KEY } from '../support/test-app.js';

const MANAGER_KEY = 'test-manager-key-0123456789abcdef';

describeOnEachDatabase('on-demand profiling', (harness) => {
  async function managerKey(): Promise<string> {
    await harness()
      .db.schemaOwner()
      .query(
        `INSERT INTO api_keys (tenant_id, id, name, key_hash, key_prefix, role)
       VALUES ('default', $1, 'manager', $2, $3, 'manager') ON CONFLICT (key_hash) DO NOTHING`,
        [newId(), hashApiKey(MANAGER_KEY), displayPrefixOf(MANAGER_KEY)],
      );
    return MANAGER_KEY;
  }

  it('is refused to anyone but an admin of the operator tenant', async () => {
    const { request } = harness();
    expect((await request('POST', '/api/v1/ops/profile/cpu?seconds=1', { key: null })).status).toBe(401);
    const manager = await request('POST', '/api/v1/ops/profile/cpu?seconds=1', { key: await managerKey() });
    expect(manager.status).toBe(403);
    expect(manager.body.code).toBe('FORBIDDEN');
    const otherTenant = await request('POST', '/api/v1/ops/profile/heap', { key: OTHER_TENANT_KEY });
    expect(otherTenant.status).toBe(403);
  });

  it('gives an admin a CPU profile DevTools can open, bounded in duration', async () => {
    const { request } = harness();
    const response = await request('POST', '/api/v1/ops/profile/cpu?seconds=1');
    expect(response.status).toBe(200);
    expect(String(response.headers['content-disposition'])).toMatch(/filename="omnistock-.*\.cpuprofile"/);
    expect(response.body.nodes.length).toBeGreaterThan(0);
    expect(response.body.endTime).toBeGreaterThan(response.body.startTime);
    for (const seconds of ['0', '61', 'ten']) {
      const refused = await request('POST', `/api/v1/ops/profile/cpu?seconds=${seconds}`);
      expect(refused.status).toBe(400);
    }
  });

  it('takes one profile at a time: a second request meanwhile gets 409', async () => {
    const { request } = harness();
    const [first, second] = await Promise.all([
      request('POST', '/api/v1/ops/profile/cpu?seconds=2'),
      request('POST', '/api/v1/ops/profile/cpu?seconds=2'),
    ]);
    expect([first.status, second.status].sort()).toEqual([200, 409]);
    const refused = first.status === 409 ? first : second;
    expect(refused.body.code).toBe('PROFILE_IN_PROGRESS');
  });

  it('gives an admin a heap snapshot', async () => {
    const { request } = harness();
    const response = await request('POST', '/api/v1/ops/profile/heap');
    expect(response.status).toBe(200);
    expect(String(response.headers['content-disposition'])).toMatch(/filename="omnistock-.*\.heapsnapshot"/);
    expect(response.body.snapshot.meta.node_fields).toContain('name');
    expect(response.body.snapshot.node_count).toBeGreaterThan(0);
  });
});
