import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Database } from '../../src/platform/db/database.js';
import { readEventLog } from '../../src/platform/events/outbox-store.js';
import { newId } from '../../src/platform/ids.js';
import { displayPrefixOf, hashApiKey } from '../../src/platform/security/api-key.js';

export interface ReceivedRequest {
  id: string;
  body: string;
  headers: Record<string, string>;
  /** What the receiver answered. */
  status: number;
}

/**
 * A local webhook receiver on 127.0.0.1 (port 0 unless given). `answer` decides each status; every
 * request is recorded with what it was answered.
 */
export class WebhookReceiver {
  readonly requests: ReceivedRequest[] = [];
  answer: (request: ReceivedRequest) => number = () => 200;
  #server: Server | undefined;
  #port = 0;

  static async start(port = 0): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver();
    await receiver.listen(port);
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}/hooks`;
  }

  get port(): number {
    return this.#port;
  }

  /** Event ids answered with 2xx, de-duplicated by webhook-id as a receiver would. */
  acknowledgedIds(): Set<string> {
    return new Set(this.requests.filter((request) => request.status < 300).map((request) => request.id));
  }

  async listen(port: number): Promise<void> {
    const server = createServer(async (request, response) => {
      const body = await readBody(request);
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.headers)) {
        if (typeof value === 'string') headers[name] = value;
      }
      const received: ReceivedRequest = { id: headers['webhook-id'] ?? '', body, headers, status: 0 };
      received.status = this.answer(received);
      this.requests.push(received);
      response.writeHead(received.status).end();
    });
    // A port just released can still be held for a moment: retry within a bound.
    for (let attempt = 0; ; attempt += 1) {
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, '127.0.0.1', () => {
            server.off('error', reject);
            resolve();
          });
        });
        break;
      } catch (error) {
        if (attempt >= 20) throw error;
        await sleep(50);
      }
    }
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Polls `check` until it returns true or `timeoutMs` passes; then fails naming what it waited for. */
export async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await sleep(20);
  }
}

/** The webhook tables are not among the harness's tenant tables: each test starts without endpoints. */
export async function resetWebhooks(db: Database): Promise<void> {
  await db.schemaOwner().query('TRUNCATE webhook_deliveries, webhook_secrets, webhook_endpoints');
}

/** An API key of the default tenant with a role other than admin. */
export async function createKey(db: Database, role: 'manager' | 'vendor' | 'customer'): Promise<string> {
  const key = `test-${role}-key-${newId()}`;
  await db.schemaOwner().query(
    `INSERT INTO api_keys (tenant_id, id, name, key_hash, key_prefix, role)
     VALUES ('default', $1, $2, $3, $4, $5)`,
    [newId(), `${role} key`, hashApiKey(key), displayPrefixOf(key), role],
  );
  return key;
}

/** The event ids of the default tenant's log whose type matches. */
export async function loggedEventIds(db: Database, typePrefix = ''): Promise<string[]> {
  const events = await readEventLog(db.schemaOwner(), {
    tenantId: 'default',
    afterSequence: 0,
    limit: 10_000,
  });
  return events.filter((event) => event.envelope.type.startsWith(typePrefix)).map((event) => event.id);
}
