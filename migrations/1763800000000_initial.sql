-- Up Migration

CREATE TABLE tenants (
  id text PRIMARY KEY,
  name text NOT NULL,
  -- ISO-8601 duration added to each recording's receipt time (fixed at ingest).
  retention text NOT NULL,
  -- Random, never derived from the id; required on every AssumeRole into the tenant's account.
  aws_external_id text NOT NULL UNIQUE,
  active_storage_version integer,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants (id),
  name text NOT NULL,
  -- SHA-256 of the key; the key itself is shown once and never stored.
  key_hash bytea NOT NULL UNIQUE,
  scopes text[] NOT NULL,
  expires_at timestamptz,
  revoked_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at);

-- Immutable: a change of bucket or key is a new version; old recordings keep theirs.
CREATE TABLE storage_versions (
  tenant_id text NOT NULL REFERENCES tenants (id),
  version integer NOT NULL,
  provider text NOT NULL,
  -- Never secrets: those are sealed in secret_ciphertext under the service secrets key.
  config jsonb NOT NULL,
  secret_ciphertext bytea,
  key_id text NOT NULL,
  handshake jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, version)
);
ALTER TABLE tenants ADD FOREIGN KEY (id, active_storage_version) REFERENCES storage_versions (tenant_id, version)
  DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE recordings (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants (id),
  status text NOT NULL CHECK (status IN ('queued', 'transferring', 'stored', 'blocked', 'failed', 'deleting', 'deleted')),
  call_id text NOT NULL,
  agent_id text,
  started_at timestamptz,
  direction text CHECK (direction IN ('inbound', 'outbound')),
  content_type text NOT NULL,
  size bigint NOT NULL,
  sha256 text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  stored_at timestamptz,
  expires_at timestamptz NOT NULL,
  legal_hold boolean NOT NULL DEFAULT false,
  legal_hold_reason text,
  -- Where the encrypted object goes (set when a transfer starts) and what it became.
  storage_version integer,
  object_key text,
  location text,
  object_version text,
  object_size bigint,
  key_id text,
  -- The encrypted spooled copy; cleared only after a verified store (or a deletion).
  spool_file text,
  spool_bytes bigint,
  error_code text,
  error_message text,
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  deleted_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (tenant_id, storage_version) REFERENCES storage_versions (tenant_id, version)
);
CREATE INDEX recordings_tenant_created ON recordings (tenant_id, created_at DESC, id DESC);
CREATE INDEX recordings_tenant_call ON recordings (tenant_id, call_id);
CREATE INDEX recordings_pending ON recordings (status, next_attempt_at)
  WHERE status IN ('queued', 'transferring', 'blocked', 'deleting');
CREATE INDEX recordings_expiry ON recordings (expires_at) WHERE status NOT IN ('deleting', 'deleted');
CREATE INDEX recordings_spool ON recordings (tenant_id) WHERE spool_bytes IS NOT NULL;

CREATE TABLE idempotency_keys (
  tenant_id text NOT NULL REFERENCES tenants (id),
  key text NOT NULL,
  recording_id text NOT NULL REFERENCES recordings (id),
  sha256 text NOT NULL,
  size bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, key)
);

CREATE TABLE playback_links (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants (id),
  recording_id text NOT NULL REFERENCES recordings (id),
  expires_at timestamptz NOT NULL,
  on_behalf_of text,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  first_used_at timestamptz
);

-- One hash chain per tenant; the head row is locked while appending so concurrent
-- writers never fork the chain.
CREATE TABLE audit_heads (
  tenant_id text PRIMARY KEY,
  seq bigint NOT NULL,
  hash text NOT NULL
);
CREATE TABLE audit_events (
  tenant_id text NOT NULL,
  seq bigint NOT NULL,
  at timestamptz NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  target text NOT NULL,
  detail jsonb NOT NULL,
  hash text NOT NULL,
  PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX audit_events_at ON audit_events (tenant_id, at);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only';
END;
$$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

-- Down Migration
DROP TABLE playback_links;
DROP TABLE idempotency_keys;
DROP TABLE recordings;
ALTER TABLE tenants DROP CONSTRAINT IF EXISTS tenants_id_active_storage_version_fkey;
DROP TABLE storage_versions;
DROP TABLE api_keys;
DROP TABLE tenants;
DROP TABLE audit_events;
DROP TABLE audit_heads;
DROP FUNCTION audit_events_append_only;
