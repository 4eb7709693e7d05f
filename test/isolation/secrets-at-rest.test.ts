import { Webhook } from 'standardwebhooks';
import { afterEach, expect, it } from 'vitest';
import { resealWebhookSecrets } from '../../src/modules/webhooks/index.js';
import { resealIdempotencyResponses } from '../../src/platform/http/idempotency.js';
import { newId } from '../../src/platform/ids.js';
import { generateSecretKey, parseSecretKeys, SecretBox } from '../../src/platform/security/secret-box.js';
import { describeOnEachDatabase, TEST_SECRET_KEYS } from '../support/test-app.js';
import { WebhookReceiver, waitUntil } from '../webhooks/webhook-receiver.js';

describeOnEachDatabase(
  'secrets at rest',
  (harness) => {
    const receivers: WebhookReceiver[] = [];
    afterEach(async () => {
      for (const receiver of receivers.splice(0)) await receiver.close();
    });

    async function register(url: string, idempotencyKey = newId()) {
      const response = await harness().request('POST', '/api/v1/webhooks', {
        body: { url, event_types: ['stock.created'] },
        headers: { 'idempotency-key': idempotencyKey },
      });
      expect(response.status).toBe(201);
      return response.body as { id: string; secret: string };
    }

    /** How many rows of the two tables that ever see a secret hold it, anywhere, as text. */
    async function rowsHolding(secret: string): Promise<number> {
      const secretBody = secret.replace(/^whsec_/, '');
      const result = await harness()
        .db.schemaOwner()
        .query<{ count: number }>(
          `SELECT (SELECT count(*) FROM webhook_secrets s WHERE strpos(s::text, $1) > 0)
                + (SELECT count(*) FROM idempotency_keys k WHERE strpos(k::text, $1) > 0) AS count`,
          [secretBody],
        );
      return Number(result.rows[0]?.count);
    }

    it('stores no signing secret in clear, neither in its table nor in the replay record', async () => {
      const key = newId();
      const endpoint = await register('https://hooks.example.com/in', key);
      expect(endpoint.secret).toMatch(/^whsec_/);
      expect(await rowsHolding(endpoint.secret)).toBe(0);
      const stored = await harness()
        .db.schemaOwner()
        .query<{ secret: string }>('SELECT secret FROM webhook_secrets WHERE endpoint_id = $1', [
          endpoint.id,
        ]);
      expect(stored.rows).toHaveLength(1);
      expect(stored.rows[0]?.secret).toMatch(/^enc:v1:test-1:/);
      const record = await harness()
        .db.schemaOwner()
        .query<{ response_body: string }>('SELECT response_body FROM idempotency_keys');
      expect(record.rows[0]?.response_body).toMatch(/^enc:v1:test-1:/);

      // The replay still answers with the secret: the record opens.
      const replayed = await harness().request('POST', '/api/v1/webhooks', {
        body: { url: 'https://hooks.example.com/in', event_types: ['stock.created'] },
        headers: { 'idempotency-key': key },
      });
      expect(replayed.headers['idempotent-replayed']).toBe('true');
      expect(replayed.body.secret).toBe(endpoint.secret);
    });

    it('signs deliveries with the sealed secret, verifiable with the secret shown once', async () => {
      const target = await WebhookReceiver.start();
      receivers.push(target);
      const endpoint = await register(target.url);
      const product = await harness().createProduct();
      await harness().stock(product.id, await harness().createStore(), 3);
      await waitUntil('the stock.created delivery arrives', async () => target.requests.length > 0);
      const received = target.requests[0];
      if (received === undefined) throw new Error('no request');
      const event = new Webhook(endpoint.secret).verify(received.body, received.headers) as { type: string };
      expect(event.type).toBe('stock.created');
      expect(() =>
        new Webhook(`whsec_${Buffer.alloc(32).toString('base64')}`).verify(received.body, received.headers),
      ).toThrow();
    });

    it('reseals under a new key, and seals values stored in clear before encryption at rest', async () => {
      const endpoint = await register('https://hooks.example.com/rotate');
      const { db } = harness();
      // A secret written in clear by a version before sealing.
      await db.schemaOwner().query(
        `INSERT INTO webhook_secrets (tenant_id, endpoint_id, id, secret, expires_at)
                VALUES ('default', $1, $2, 'whsec_legacy-in-clear', now() + interval '1 hour')`,
        [endpoint.id, newId()],
      );

      const newKey = parseSecretKeys(generateSecretKey('test-2'));
      const rotated = new SecretBox([...newKey, ...TEST_SECRET_KEYS]);
      expect(await resealWebhookSecrets(db, rotated)).toBe(2);
      expect(await resealIdempotencyResponses(db, rotated)).toBe(1);
      // Idempotent: nothing left under an older key.
      expect(await resealWebhookSecrets(db, rotated)).toBe(0);
      expect(await resealIdempotencyResponses(db, rotated)).toBe(0);

      const stored = await db
        .schemaOwner()
        .query<{ secret: string }>(
          'SELECT secret FROM webhook_secrets WHERE endpoint_id = $1 ORDER BY expires_at NULLS FIRST',
          [endpoint.id],
        );
      expect(stored.rows.map((row) => row.secret.slice(0, 'enc:v1:test-2:'.length))).toEqual([
        'enc:v1:test-2:',
        'enc:v1:test-2:',
      ]);
      const context = `webhook_secrets/default/${endpoint.id}`;
      // The old key is no longer needed to open them.
      const newKeyOnly = new SecretBox(newKey);
      expect(stored.rows.map((row) => newKeyOnly.open(row.secret, context))).toEqual([
        endpoint.secret,
        'whsec_legacy-in-clear',
      ]);
      expect(await rowsHolding('legacy-in-clear')).toBe(0);
    });
  },
  { webhookAllowPrivateTargets: true },
);
