-- Up Migration

-- The last audit checkpoint written into each tenant's own storage. The copy in the
-- tenant's bucket is the one that counts (a database rewrite cannot reach it); this row
-- only tells the checkpoint job whether the head has moved since. No foreign key, like
-- audit_heads: the audit trail may outlive the tenant row.
CREATE TABLE audit_checkpoints (
  tenant_id text PRIMARY KEY,
  seq bigint NOT NULL,
  hash text NOT NULL,
  storage_version integer NOT NULL,
  at timestamptz NOT NULL
);

-- The key-usage report reads a few actions out of a long chain.
CREATE INDEX audit_events_action ON audit_events (tenant_id, action, seq);

-- Down Migration
DROP INDEX audit_events_action;
DROP TABLE audit_checkpoints;
