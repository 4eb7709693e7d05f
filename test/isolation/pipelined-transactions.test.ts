import { randomBytes } from 'node:crypto';
import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Database, sqlStateOf } from '../../src/platform/db/database.js';
import { postgresAdminUrl } from '../support/postgres.js';
import { createTestDatabase, postgresAvailable } from '../support/test-app.js';

const INSUFFICIENT_PRIVILEGE = '42501';

/**
 * A TCP relay to PostgreSQL that can hold back what the server answers, and records what the
 * client sent: it shows whether the client waits for an answer before sending its next statement.
 */
async function answerHoldingProxy(target: URL) {
  let holding = false;
  let sent = '';
  const held: (() => void)[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk) => {
      sent += chunk.toString('latin1');
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (holding) held.push(() => client.write(chunk));
      else client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;
  return {
    port: address.port,
    /** Everything the clients sent since the last call. */
    takeSent(): string {
      const taken = sent;
      sent = '';
      return taken;
    },
    hold(): void {
      holding = true;
    },
    release(): void {
      holding = false;
      for (const write of held.splice(0)) write();
    },
    async close(): Promise<void> {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Waits until the client has sent every marker while the server's answers are held back (what it
 * sends across several polls adds up), then lets the answers through, whether or not it did.
 */
async function expectSentWhileHeld(
  proxy: Awaited<ReturnType<typeof answerHoldingProxy>>,
  markers: readonly string[],
): Promise<void> {
  let sent = '';
  try {
    await vi.waitFor(
      () => {
        sent += proxy.takeSent();
        for (const marker of markers) expect(sent).toContain(marker);
      },
      { timeout: 5_000 },
    );
  } finally {
    proxy.release();
  }
}

describe.skipIf(!postgresAvailable())('pipelined transactions [postgres]', () => {
  describe('on the wire', () => {
    let db: Database;
    let drop: () => Promise<void>;
    let proxy: Awaited<ReturnType<typeof answerHoldingProxy>>;
    beforeAll(async () => {
      proxy = await answerHoldingProxy(new URL(postgresAdminUrl()));
      ({ database: db, drop } = await createTestDatabase('postgres', 1, (url) => {
        url.hostname = '127.0.0.1';
        url.port = String(proxy.port);
        return url;
      }));
      // The pool's one connection is made (and authenticated) before anything is held back.
      await db.schemaOwner().query('SELECT 1');
    });
    afterAll(async () => {
      await drop();
      await proxy.close();
    });

    it("sends a transaction's first statement behind BEGIN, without waiting for BEGIN's answer", async () => {
      proxy.takeSent();
      proxy.hold();
      const transaction = db
        .forTenant('default')
        .transaction((tx) => tx.query<{ marker: string }>(`SELECT 'first-statement' AS marker`));
      await expectSentWhileHeld(proxy, ['BEGIN', 'first-statement']);
      expect((await transaction).rows).toEqual([{ marker: 'first-statement' }]);
      // COMMIT waited for the statement's answer: the work decides whether there is more to send.
      expect(proxy.takeSent()).toContain('COMMIT');
    });

    it('sends a commitWith write and COMMIT together, after the work has returned', async () => {
      proxy.takeSent();
      let workReturned = false;
      const transaction = db.schemaOwner().transaction(async (tx) => {
        await tx.query('SELECT 1');
        // From here on, no answer reaches the client until both are on the wire.
        proxy.hold();
        tx.commitWith({ sql: `SELECT 'final-write'`, params: [] });
        workReturned = true;
        return 'done';
      });
      await expectSentWhileHeld(proxy, ['final-write', 'COMMIT']);
      expect(workReturned).toBe(true);
      expect(await transaction).toBe('done');
    });
  });

  describe('in writes to the socket', () => {
    let db: Database;
    let drop: () => Promise<void>;
    beforeAll(async () => {
      ({ database: db, drop } = await createTestDatabase('postgres', 1));
      await db.schemaOwner().query('SELECT 1');
    });
    afterAll(async () => drop());

    /** What each write of a socket to PostgreSQL carried, while `work` runs. */
    async function socketWrites(work: () => Promise<unknown>): Promise<string[]> {
      const writes: string[] = [];
      const toPostgres = (socket: net.Socket) =>
        socket.remotePort === Number(new URL(postgresAdminUrl()).port || 5432);
      const { _write: write, _writev: writev } = net.Socket.prototype;
      net.Socket.prototype._write = function (this: net.Socket, chunk, encoding, callback) {
        if (toPostgres(this)) writes.push(Buffer.from(chunk).toString('latin1'));
        return write.call(this, chunk, encoding, callback);
      };
      net.Socket.prototype._writev = function (this: net.Socket, chunks, callback) {
        if (toPostgres(this))
          writes.push(chunks.map(({ chunk }) => Buffer.from(chunk).toString('latin1')).join(''));
        return writev?.call(this, chunks, callback);
      };
      try {
        await work();
      } finally {
        net.Socket.prototype._write = write;
        net.Socket.prototype._writev = writev;
      }
      return writes;
    }

    it('sends BEGIN with the first statement, and a commitWith write with COMMIT, in one write each', async () => {
      const writes = await socketWrites(() =>
        db.forTenant('default').transaction(async (tx) => {
          await tx.query(`SELECT 'first-statement'`);
          tx.commitWith({ sql: `SELECT 'final-write'`, params: [] });
        }),
      );
      expect(writes).toHaveLength(2);
      expect(writes[0]).toContain('BEGIN');
      expect(writes[0]).toContain('first-statement');
      expect(writes[1]).toContain('final-write');
      expect(writes[1]).toContain('COMMIT');
    });
  });

  describe('when the scope cannot be set', () => {
    // A login that may not take the service's role: SET LOCAL ROLE, sent with BEGIN, fails.
    const outsider = `omnistock_test_outsider_${randomBytes(4).toString('hex')}`;
    let db: Database;
    let drop: () => Promise<void>;
    beforeAll(async () => {
      const admin = new pg.Client({ connectionString: postgresAdminUrl() });
      await admin.connect();
      await admin.query(`CREATE ROLE ${outsider} LOGIN`).finally(() => admin.end());
      ({ database: db, drop } = await createTestDatabase('postgres', 1, (url) => {
        url.username = outsider;
        url.password = '';
        return url;
      }));
    });
    afterAll(async () => {
      await drop();
      const admin = new pg.Client({ connectionString: postgresAdminUrl() });
      await admin.connect();
      await admin.query(`DROP ROLE IF EXISTS ${outsider}`).finally(() => admin.end());
    });

    it("runs nothing of the transaction, and reports the scope's own error", async () => {
      const failure = await db
        .forTenant('default')
        .transaction(async (tx) => {
          // Pipelined behind BEGIN: were it run outside the transaction, the setting would outlive it.
          await tx.query(`SELECT set_config('omnistock_test.ran', 'yes', false)`);
        })
        .catch((error: unknown) => error);
      expect(sqlStateOf(failure)).toBe(INSUFFICIENT_PRIVILEGE);
      // The same (only) connection, rolled back and usable: the statement left nothing behind.
      const after = await db
        .schemaOwner()
        .query<{ ran: string | null }>(`SELECT current_setting('omnistock_test.ran', true) AS ran`);
      expect(after.rows[0]?.ran ?? '').toBe('');
    });
  });
});

const UNIQUE_VIOLATION = '23505';

for (const kind of ['pglite', 'postgres'] as const) {
  describe.skipIf(kind === 'postgres' && !postgresAvailable())(`a write sent with COMMIT [${kind}]`, () => {
    let db: Database;
    let drop: () => Promise<void>;
    beforeAll(async () => {
      ({ database: db, drop } = await createTestDatabase(kind, 2));
      await db.schemaOwner().query('CREATE TABLE commit_with_rows (id int PRIMARY KEY)');
    });
    afterAll(async () => drop());

    const ids = async () =>
      (await db.schemaOwner().query<{ id: number }>('SELECT id FROM commit_with_rows ORDER BY id')).rows.map(
        (row) => row.id,
      );
    const insert = (id: number) => ({ sql: 'INSERT INTO commit_with_rows (id) VALUES ($1)', params: [id] });

    it('runs last, in the order given, and commits with the rest', async () => {
      const committed: string[] = [];
      const value = await db.schemaOwner().transaction(async (tx) => {
        tx.commitWith(insert(2));
        tx.commitWith(insert(3));
        tx.afterCommit(() => committed.push('after commit'));
        return 'done';
      });
      expect(value).toBe('done');
      expect(committed).toEqual(['after commit']);
      expect(await ids()).toEqual([2, 3]);
    });

    it('rolls the whole transaction back when it fails, and throws its error', async () => {
      const committed: string[] = [];
      const failure = await db
        .schemaOwner()
        .transaction(async (tx) => {
          await tx.query(insert(10).sql, insert(10).params);
          tx.commitWith(insert(2));
          tx.afterCommit(() => committed.push('after commit'));
        })
        .catch((error: unknown) => error);
      expect(sqlStateOf(failure)).toBe(UNIQUE_VIOLATION);
      expect(committed).toEqual([]);
      expect(await ids()).toEqual([2, 3]);
    });

    it('refuses a statement after it, and writes nothing', async () => {
      const failure = await db
        .schemaOwner()
        .transaction(async (tx) => {
          tx.commitWith(insert(20));
          await tx.query('SELECT 1');
        })
        .catch((error: unknown) => error);
      expect(String(failure)).toMatch(/No statement may follow commitWith/);
      expect(await ids()).toEqual([2, 3]);
    });
  });
}
