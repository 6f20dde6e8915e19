-- Up Migration

-- Rewrap, re-encrypt and storage migration jobs. Progress lives here, not in Redis: a
-- wiped queue loses no job (the reconciler re-enqueues every running one).
CREATE TABLE key_jobs (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants (id),
  kind text NOT NULL CHECK (kind IN ('rewrap', 'reencrypt', 'migrate')),
  target_version integer NOT NULL,
  -- reencrypt only: the recordings asked for; NULL means every stored recording.
  recording_ids text[],
  status text NOT NULL CHECK (status IN ('running', 'done', 'failed', 'cancelled')),
  total integer NOT NULL,
  done integer NOT NULL DEFAULT 0,
  failed integer NOT NULL DEFAULT 0,
  -- Recordings deleted (or otherwise changed) while the job worked on them.
  skipped integer NOT NULL DEFAULT 0,
  rate_per_second real NOT NULL CHECK (rate_per_second > 0),
  error text,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  FOREIGN KEY (tenant_id, target_version) REFERENCES storage_versions (tenant_id, version)
);
-- One running job per tenant: the API answers 409 on a second.
CREATE UNIQUE INDEX key_jobs_one_running ON key_jobs (tenant_id) WHERE status = 'running';
CREATE INDEX key_jobs_tenant ON key_jobs (tenant_id, created_at DESC, id DESC);

-- Each recording a job touched, written BEFORE its new object is put: a crash at any
-- point leaves a row saying which object (new or old) may be left over, so a later run
-- removes it. `copying`: the new object may exist, the row still points at the old one.
-- `switched`: the row points at the new object, the old one may still exist. `done`:
-- the old one is gone. `abandoned`: an unfinished copy of a job that ended was removed.
CREATE TABLE key_job_items (
  job_id text NOT NULL REFERENCES key_jobs (id),
  recording_id text NOT NULL REFERENCES recordings (id),
  tenant_id text NOT NULL REFERENCES tenants (id),
  state text NOT NULL CHECK (state IN ('copying', 'switched', 'done', 'failed', 'skipped', 'abandoned')),
  from_version integer NOT NULL,
  from_key text NOT NULL,
  to_version integer NOT NULL,
  to_key text NOT NULL,
  error_code text,
  error_message text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, recording_id)
);
CREATE INDEX key_job_items_unsettled ON key_job_items (tenant_id) WHERE state IN ('copying', 'switched');

-- Down Migration
DROP TABLE key_job_items;
DROP TABLE key_jobs;
