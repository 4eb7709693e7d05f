import type { Queryable, Statement } from '../../platform/db/database.js';

export type ReservationStatus = 'PENDING' | 'CONFIRMED' | 'CANCELLED' | 'EXPIRED';

export interface ReservationRow {
  tenant_id: string;
  id: string;
  product_id: string;
  store_id: string;
  customer_id: string;
  quantity: number;
  status: ReservationStatus;
  batch_id: string | null;
  expires_at: Date;
  created_at: Date;
  updated_at: Date;
  /** Past expires_at by the database clock: the one clock all instances share. */
  due: boolean;
}

export interface NewReservation {
  id: string;
  productId: string;
  storeId: string;
  customerId: string;
  quantity: number;
  ttlSeconds: number;
  batchId: string | null;
}

const RESERVATION_COLUMNS =
  'tenant_id, id, product_id, store_id, customer_id, quantity, status, batch_id, expires_at, created_at, updated_at, expires_at <= now() AS due';

/**
 * The rows of new PENDING reservations of one tenant, and their insert, to travel with the outbox
 * write of their events (see appendToOutbox). They are created at the transaction's now()
 * (`startedAt`, which the table's defaults store) and due `ttlSeconds` later; the insert stores the
 * rows as they are here, so nothing needs reading back. One statement whatever their number: the
 * rows travel as arrays, so its text (and plan) is the same for one row or hundreds.
 */
export function pendingReservationsInsert(
  tenantId: string,
  startedAt: Date,
  reservations: readonly NewReservation[],
): { statement: Statement; rows: ReservationRow[] } {
  const rows = reservations.map(
    (reservation): ReservationRow => ({
      tenant_id: tenantId,
      id: reservation.id,
      product_id: reservation.productId,
      store_id: reservation.storeId,
      customer_id: reservation.customerId,
      quantity: reservation.quantity,
      status: 'PENDING',
      batch_id: reservation.batchId,
      expires_at: new Date(startedAt.getTime() + reservation.ttlSeconds * 1000),
      created_at: startedAt,
      updated_at: startedAt,
      due: false,
    }),
  );
  const column = <T>(pick: (row: ReservationRow) => T): T[] => rows.map(pick);
  const statement = {
    sql: `INSERT INTO reservations (tenant_id, id, product_id, store_id, customer_id, quantity, status, batch_id, expires_at)
          SELECT $1, row.id, row.product_id, row.store_id, row.customer_id, row.quantity, 'PENDING', row.batch_id,
                 row.expires_at
            FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::integer[], $7::uuid[], $8::timestamptz[])
              AS row(id, product_id, store_id, customer_id, quantity, batch_id, expires_at)`,
    params: [
      tenantId,
      column((row) => row.id),
      column((row) => row.product_id),
      column((row) => row.store_id),
      column((row) => row.customer_id),
      column((row) => row.quantity),
      column((row) => row.batch_id),
      column((row) => row.expires_at),
    ],
  };
  return { statement, rows };
}

export async function findReservation(
  db: Queryable,
  tenantId: string,
  reservationId: string,
  options: { forUpdate?: boolean } = {},
): Promise<ReservationRow | undefined> {
  const result = await db.query<ReservationRow>(
    `SELECT ${RESERVATION_COLUMNS} FROM reservations WHERE tenant_id = $1 AND id = $2${options.forUpdate ? ' FOR UPDATE' : ''}`,
    [tenantId, reservationId],
  );
  return result.rows[0];
}

export async function updateReservationStatus(
  db: Queryable,
  tenantId: string,
  reservationId: string,
  status: ReservationStatus,
): Promise<ReservationRow> {
  const result = await db.query<ReservationRow>(
    `UPDATE reservations SET status = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2 RETURNING ${RESERVATION_COLUMNS}`,
    [tenantId, reservationId, status],
  );
  return result.rows[0] as ReservationRow;
}

/**
 * Settles a PENDING reservation that is not due (CONFIRMED or CANCELLED), locking its row, in one
 * statement. Undefined when it is missing, settled already or due: the caller reads it to see which.
 */
export async function settlePendingReservation(
  db: Queryable,
  tenantId: string,
  reservationId: string,
  status: 'CONFIRMED' | 'CANCELLED',
): Promise<ReservationRow | undefined> {
  const result = await db.query<ReservationRow>(
    `UPDATE reservations SET status = $3, updated_at = now()
      WHERE tenant_id = $1 AND id = $2 AND status = 'PENDING' AND expires_at > now()
      RETURNING ${RESERVATION_COLUMNS}`,
    [tenantId, reservationId, status],
  );
  return result.rows[0];
}

/**
 * Marks up to `limit` due PENDING reservations of any tenant EXPIRED. SKIP LOCKED lets several
 * instances sweep at once without waiting on each other or on a confirm holding a row.
 */
export async function expireDueReservations(db: Queryable, limit: number): Promise<ReservationRow[]> {
  const result = await db.query<ReservationRow>(
    `UPDATE reservations SET status = 'EXPIRED', updated_at = now()
      WHERE (tenant_id, id) IN (
        SELECT tenant_id, id FROM reservations
         WHERE status = 'PENDING' AND expires_at <= now()
         ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
      RETURNING ${RESERVATION_COLUMNS}`,
    [limit],
  );
  return result.rows;
}

export async function nextPendingExpiry(db: Queryable): Promise<Date | undefined> {
  const result = await db.query<{ expires_at: Date | null }>(
    `SELECT min(expires_at) AS expires_at FROM reservations WHERE status = 'PENDING'`,
  );
  return result.rows[0]?.expires_at ?? undefined;
}

export async function listPendingOfStore(
  db: Queryable,
  tenantId: string,
  storeId: string,
  afterId: string | undefined,
  limit: number,
): Promise<ReservationRow[]> {
  const result = await db.query<ReservationRow>(
    `SELECT ${RESERVATION_COLUMNS} FROM reservations
      WHERE tenant_id = $1 AND store_id = $2 AND status = 'PENDING' AND ($3::uuid IS NULL OR id > $3)
      ORDER BY id LIMIT $4`,
    [tenantId, storeId, afterId ?? null, limit + 1],
  );
  return result.rows;
}

export async function listOfLevel(
  db: Queryable,
  filter: {
    tenantId: string;
    productId: string;
    storeId: string;
    status: ReservationStatus | undefined;
    afterId: string | undefined;
    limit: number;
  },
): Promise<ReservationRow[]> {
  const result = await db.query<ReservationRow>(
    `SELECT ${RESERVATION_COLUMNS} FROM reservations
      WHERE tenant_id = $1 AND product_id = $2 AND store_id = $3
        AND ($4::text IS NULL OR status = $4) AND ($5::uuid IS NULL OR id > $5)
      ORDER BY id LIMIT $6`,
    [
      filter.tenantId,
      filter.productId,
      filter.storeId,
      filter.status ?? null,
      filter.afterId ?? null,
      filter.limit + 1,
    ],
  );
  return result.rows;
}

export interface StatusTotals {
  status: ReservationStatus;
  count: number;
  units: number;
}

export async function countByStatus(
  db: Queryable,
  tenantId: string,
  storeId: string | undefined,
): Promise<StatusTotals[]> {
  const result = await db.query<StatusTotals>(
    `SELECT status, count(*) AS count, COALESCE(sum(quantity), 0)::bigint AS units
       FROM reservations WHERE tenant_id = $1 AND ($2::text IS NULL OR store_id = $2)
      GROUP BY status`,
    [tenantId, storeId ?? null],
  );
  return result.rows;
}

export async function nextPendingExpiryOfTenant(
  db: Queryable,
  tenantId: string,
  storeId: string | undefined,
): Promise<Date | null> {
  const result = await db.query<{ expires_at: Date | null }>(
    `SELECT min(expires_at) AS expires_at FROM reservations
      WHERE tenant_id = $1 AND status = 'PENDING' AND ($2::text IS NULL OR store_id = $2)`,
    [tenantId, storeId ?? null],
  );
  return result.rows[0]?.expires_at ?? null;
}

export interface CustomerHoldRow {
  customer_id: string;
  product_id: string;
  reservations: number;
  units: number;
}

/**
 * Serialises reservations of these customers until the transaction ends, so that two concurrent
 * requests cannot both read a customer's holds below a cap and both pass it, and then reads their
 * pending, not yet due reservations per customer and product: one round trip for both
 * (migrations/0011). Taken before any stock level is locked, and only by reservation creation.
 */
export async function lockCustomersAndReadHolds(
  db: Queryable,
  tenantId: string,
  customerIds: readonly string[],
): Promise<CustomerHoldRow[]> {
  const result = await db.query<CustomerHoldRow>(
    'SELECT customer_id, product_id, reservations, units FROM lock_customers_and_read_holds($1, $2::text[])',
    [tenantId, customerIds],
  );
  return result.rows;
}
