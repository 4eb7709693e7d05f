import type { Queryable } from '../../platform/db/database.js';

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
 * Inserts PENDING reservations of one tenant in one statement, whatever their number: the rows
 * travel as arrays, so the statement text (and its plan) is the same for one row or hundreds.
 */
export async function insertReservations(
  db: Queryable,
  tenantId: string,
  reservations: readonly NewReservation[],
): Promise<ReservationRow[]> {
  const column = <T>(pick: (reservation: NewReservation) => T): T[] => reservations.map(pick);
  const result = await db.query<ReservationRow>(
    `INSERT INTO reservations (tenant_id, id, product_id, store_id, customer_id, quantity, status, batch_id, expires_at)
     SELECT $1, row.id, row.product_id, row.store_id, row.customer_id, row.quantity, 'PENDING', row.batch_id,
            now() + make_interval(secs => row.ttl_seconds)
       FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::integer[], $7::uuid[], $8::integer[])
         AS row(id, product_id, store_id, customer_id, quantity, batch_id, ttl_seconds)
     RETURNING ${RESERVATION_COLUMNS}`,
    [
      tenantId,
      column((reservation) => reservation.id),
      column((reservation) => reservation.productId),
      column((reservation) => reservation.storeId),
      column((reservation) => reservation.customerId),
      column((reservation) => reservation.quantity),
      column((reservation) => reservation.batchId),
      column((reservation) => reservation.ttlSeconds),
    ],
  );
  return result.rows;
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

/**
 * Serialises reservations of these customers until the transaction ends, so that two concurrent
 * requests cannot both read a customer's holds below a cap and both pass it. The locks are taken
 * in the order of their keys, so two transactions locking overlapping sets never wait in a cycle;
 * taken before any stock level is locked, and only by reservation creation.
 */
export async function lockCustomers(
  db: Queryable,
  tenantId: string,
  customerIds: readonly string[],
): Promise<void> {
  await db.query(
    `SELECT count(pg_advisory_xact_lock(lock_key)) FROM (
       SELECT DISTINCT hashtextextended('reservation-customer:' || $1 || ':' || customer_id, 0) AS lock_key
         FROM unnest($2::text[]) AS customer_id
        ORDER BY lock_key OFFSET 0) AS ordered`,
    [tenantId, customerIds],
  );
}

export interface CustomerHoldRow {
  customer_id: string;
  product_id: string;
  reservations: number;
  units: number;
}

/**
 * Pending, not yet due reservations of these customers, per customer and product: one index range
 * per customer. The lateral subquery is kept from being flattened (OFFSET 0) so the plan is that
 * whatever the statistics say; planned as a filter over the tenant's pending reservations (which
 * stale statistics made it), the read grew with every reservation of a flash sale.
 */
export async function pendingHoldsOfCustomers(
  db: Queryable,
  tenantId: string,
  customerIds: readonly string[],
): Promise<CustomerHoldRow[]> {
  const result = await db.query<CustomerHoldRow>(
    `SELECT customer.id AS customer_id, held.product_id,
            count(*)::integer AS reservations, sum(held.quantity)::integer AS units
       FROM unnest($2::text[]) AS customer(id)
       CROSS JOIN LATERAL (
         SELECT product_id, quantity FROM reservations
          WHERE tenant_id = $1 AND customer_id = customer.id AND status = 'PENDING' AND expires_at > now()
         OFFSET 0) AS held
      GROUP BY customer.id, held.product_id`,
    [tenantId, customerIds],
  );
  return result.rows;
}
