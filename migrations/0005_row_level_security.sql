-- Row-level security: the second wall behind the tenant_id in every query (ADR 0017).
-- The service runs each transaction as omnistock_app (no BYPASSRLS, not the owner) and sets
-- omnistock.tenant_id transaction-locally; the named cross-tenant jobs set omnistock.system instead.
-- Policies are FORCEd, so even the owning role is held by them; only superusers and BYPASSRLS roles
-- are not (the service refuses to start when its runtime role is one of those).

-- Roles are cluster-wide: another database of the same cluster may be creating it at this moment,
-- so a duplicate is expected and ignored. The owner that runs migrations must be able to SET ROLE
-- to it (superusers always can).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'omnistock_app') THEN
    BEGIN
      CREATE ROLE omnistock_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;
    END;
  END IF;
  IF NOT pg_has_role(current_user, 'omnistock_app', 'MEMBER') THEN
    BEGIN
      EXECUTE format('GRANT omnistock_app TO %I', current_user);
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;
    END;
  END IF;
END $$;

-- Data rights only: no DDL, no TRUNCATE (it ignores row security), no changes to migration history.
DO $$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO omnistock_app', current_schema());
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO omnistock_app', current_schema());
  EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO omnistock_app', current_schema());
  -- Tables and sequences of later migrations (created by this same owner) get the same rights.
  EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO omnistock_app', current_schema());
  EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO omnistock_app', current_schema());
END $$;
REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM omnistock_app;

-- Whether the current transaction may see and write a row of this tenant. Unset settings read as
-- NULL or '' (never a valid tenant id), so a transaction bound to no one sees nothing: fail closed.
CREATE FUNCTION omnistock_tenant_visible(row_tenant_id text) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT row_tenant_id = current_setting('omnistock.tenant_id', true)
      OR current_setting('omnistock.system', true) = 'on'
$$;

-- One policy per tenant-owned table, for reading (USING) and writing (WITH CHECK) alike.
-- A new tenant-owned table is one more name in this list, in the migration that creates it;
-- test/isolation/row-level-security.test.ts fails for any table with tenant_id left out.
DO $$
DECLARE
  tenant_table text;
BEGIN
  FOREACH tenant_table IN ARRAY ARRAY[
    'api_keys',
    'stores',
    'products',
    'stock_levels',
    'stock_movements',
    'reservations',
    'outbox_events',
    'idempotency_keys',
    'webhook_endpoints',
    'webhook_secrets',
    'webhook_deliveries',
    'users',
    'refresh_tokens',
    'audit_log'
  ] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', tenant_table);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', tenant_table);
    EXECUTE format(
      'CREATE POLICY tenant_isolation ON %I USING (omnistock_tenant_visible(tenant_id)) '
      'WITH CHECK (omnistock_tenant_visible(tenant_id))',
      tenant_table
    );
  END LOOP;
END $$;

-- The tenants table is keyed by id rather than tenant_id: a tenant sees (and creates) itself only.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
  USING (omnistock_tenant_visible(id)) WITH CHECK (omnistock_tenant_visible(id));
