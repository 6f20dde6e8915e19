-- Up Migration

-- The periodic key-health check's last verdict per tenant (its active storage version's key).
-- One row per tenant; transfers read it to pause (block) instead of calling a broken key.
CREATE TABLE key_health (
  tenant_id text PRIMARY KEY REFERENCES tenants (id),
  storage_version integer NOT NULL,
  -- NULL until the first verdict; 'ok' or why the key is unusable (see KeyHealthState).
  state text CHECK (state IN ('ok', 'disabled', 'pending-deletion', 'expired', 'access-denied', 'not-found')),
  code text,
  deletion_date timestamptz,
  -- The last check attempted (a verdict of 'unreachable' keeps the state, moves this).
  checked_at timestamptz,
  -- When the key turned unhealthy; NULL while healthy.
  unhealthy_since timestamptz,
  -- A worker checking this tenant now holds it until then: two workers never check one tenant at once.
  claimed_until timestamptz
);

-- Down Migration
DROP TABLE key_health;
