-- Anti-hoarding caps read what one customer holds on every reservation: pending rows of one
-- customer, with the product and units, straight from the index (no heap visit for the sums).
CREATE INDEX reservations_customer_pending
  ON reservations (tenant_id, customer_id, product_id) INCLUDE (quantity, expires_at)
  WHERE status = 'PENDING';
