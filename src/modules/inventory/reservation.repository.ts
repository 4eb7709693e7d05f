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
  quantity: number;
}

const RESERVATION_COLUMNS =
  'tenant_id, id, product_id, store_id, customer_id, quantity, status, batch_id, expires_at, created_at, updated_at, expires_at <= now() AS due';
const RESERVATION_PARAMS = 4;

/** Inserts PENDING reservations of one customer, all expiring together, in one statement. */
export async function insertReservations(
  db: Queryable,
  tenantId: string,
  customerId: string,
  ttlSeconds: number,
  batchId: string | null,
  reservations: readonly NewReservation[],
): Promise<ReservationRow[]> {
  const values: unknown[] = [tenantId, customerId, ttlSeconds, batchId];
  const rows = reservations.map((reservation, index) => {
    values.push(reservation.id, reservation.productId, reservation.storeId, reservation.quantity);
    const base = 4 + index * RESERVATION_PARAMS;
    return `($1, $${base + 1}::uuid, $${base + 2}::uuid, $${base + 3}, $2, $${base + 4}::integer, 'PENDING', $4::uuid,
             now() + make_interval(secs => $3))`;
  });
  const result = await db.query<ReservationRow>(
    `INSERT INTO reservations (tenant_id, id, product_id, store_id, customer_id, quantity, status, batch_id, expires_at)
     VALUES ${rows.join(', ')} RETURNING ${RESERVATION_COLUMNS}`,
    values,
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
 * Serialises reservations of one customer until the transaction ends, so that two concurrent
 * requests cannot both read the customer's holds below a cap and both pass it. Taken before any
 * stock level is locked, and only by reservation creation: it cannot join a lock cycle.
 */
export async function lockCustomer(db: Queryable, tenantId: string, customerId: string): Promise<void> {
  await db.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
    `reservation-customer:${tenantId}:${customerId}`,
  ]);
}

export interface CustomerHoldRow {
  product_id: string;
  reservations: number;
  units: number;
}

/** Pending, not yet due reservations of one customer, per product. */
export async function pendingHoldsOfCustomer(
  db: Queryable,
  tenantId: string,
  customerId: string,
): Promise<CustomerHoldRow[]> {
  const result = await db.query<CustomerHoldRow>(
    `SELECT product_id, count(*)::integer AS reservations, sum(quantity)::integer AS units
       FROM reservations
      WHERE tenant_id = $1 AND customer_id = $2 AND status = 'PENDING' AND expires_at > now()
      GROUP BY product_id`,
    [tenantId, customerId],
  );
  return result.rows;
}
