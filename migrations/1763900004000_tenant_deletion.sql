-- Up Migration

-- Offboarding. A deleted tenant's row stays: its audit chain (kept on purpose: it proves
-- what happened), its deletion certificate and its recordings' `deleted` rows refer to it.
ALTER TABLE tenants ADD COLUMN status text NOT NULL DEFAULT 'active'
  CHECK (status IN ('active', 'deleting', 'deleted'));

-- One tenant deletion per tenant. Progress lives in the rows (recordings reach `deleted`,
-- then `phase` moves on), so a crashed worker's successor resumes where it stopped.
-- `deleting`: recordings are being deleted. `issued`: the certificate is signed and kept
-- here; its copy into the tenant's storage and the release of that storage are pending.
-- `done`: storage access dropped, tenant `deleted`.
CREATE TABLE deletion_certificates (
  tenant_id text PRIMARY KEY REFERENCES tenants (id),
  phase text NOT NULL CHECK (phase IN ('deleting', 'issued', 'done')),
  requested_at timestamptz NOT NULL,
  requested_by text NOT NULL,
  completed_at timestamptz,
  -- Compact JWS (EdDSA / Ed25519) over the certificate document; `kid` names the key.
  certificate text,
  kid text,
  -- Where the copy in the tenant's storage went, or why it could not be written.
  storage_copy_location text,
  storage_copy_error text,
  -- The last failure of the deletion job (it retries); cleared when a run gets further.
  last_error text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((phase = 'deleting') = (certificate IS NULL))
);

-- Tenant exports: a manifest of every recording written into the tenant's storage.
CREATE TABLE tenant_exports (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants (id),
  status text NOT NULL CHECK (status IN ('running', 'done', 'failed')),
  -- The storage version active when the export was asked for: a retry writes to the same place.
  storage_version integer NOT NULL,
  object_key text NOT NULL,
  location text,
  recordings integer,
  manifest_sha256 text,
  attempts integer NOT NULL DEFAULT 0,
  error_code text,
  error_message text,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  FOREIGN KEY (tenant_id, storage_version) REFERENCES storage_versions (tenant_id, version)
);
CREATE INDEX tenant_exports_running ON tenant_exports (created_at) WHERE status = 'running';

-- Down Migration
DROP TABLE tenant_exports;
DROP TABLE deletion_certificates;
ALTER TABLE tenants DROP COLUMN status;
