-- Every reservation transaction locks its customers, then reads what they hold: two round trips,
-- the first of them only to wait. This function does both in one call.
--
-- It is PL/pgSQL on purpose. At READ COMMITTED each statement of a VOLATILE PL/pgSQL function takes
-- a fresh snapshot, so the read after the locks sees what the transaction that held a lock before
-- committed. One plain SQL statement that locked and read would read with the snapshot it took
-- before it waited, and two requests of one customer could then both pass a cap.
--
-- The locks are taken in the order of their keys, so two transactions locking overlapping sets
-- never wait in a cycle. SECURITY INVOKER (the default): row-level security applies to the read.
CREATE FUNCTION lock_customers_and_read_holds(p_tenant_id text, p_customer_ids text[])
  RETURNS TABLE (customer_id text, product_id uuid, reservations integer, units integer)
  LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM count(pg_advisory_xact_lock(lock_key)) FROM (
    SELECT DISTINCT hashtextextended('reservation-customer:' || p_tenant_id || ':' || wanted, 0) AS lock_key
      FROM unnest(p_customer_ids) AS wanted
     ORDER BY lock_key OFFSET 0) AS ordered;
  -- One index range per customer (reservations_customer_pending). The lateral subquery is kept
  -- from being flattened (OFFSET 0) so the plan is that whatever the statistics say. EXECUTE plans
  -- it for these values on every call: a plan cached by the function, made while the table was
  -- small, read every pending reservation of a flash sale (each call slower than the last).
  RETURN QUERY EXECUTE
    'SELECT customer.id, held.product_id, count(*)::integer, sum(held.quantity)::integer
       FROM unnest($2) AS customer(id)
      CROSS JOIN LATERAL (
        SELECT product_id, quantity FROM reservations
         WHERE tenant_id = $1 AND customer_id = customer.id AND status = ''PENDING'' AND expires_at > now()
        OFFSET 0) AS held
      GROUP BY customer.id, held.product_id'
    USING p_tenant_id, p_customer_ids;
END
$$;
