-- A store's pending reservations are found by store first. Led by tenant_id, this partial index was
-- the smallest index on the tenant's pending reservations, and statistics refreshed in the middle of a
-- flash sale made the planner read a customer's holds through it: a filter over every pending
-- reservation of the tenant, 50-150 ms for each batch of reservations instead of one index range per
-- customer (reservations_customer_pending). Led by store_id it serves only what names a store.
DROP INDEX reservations_store_pending;
CREATE INDEX reservations_store_pending ON reservations (store_id, tenant_id, id) WHERE status = 'PENDING';
