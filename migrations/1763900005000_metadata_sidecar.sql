-- Up Migration

-- Per tenant: whether each recording gets a metadata sidecar beside its audio, and how.
-- `encrypted` (default: it holds personal data) is an ESDK message under the audio's data
-- key; `plaintext` is readable JSON; `off` writes none. Applies to transfers from now on.
ALTER TABLE tenants ADD COLUMN metadata_sidecar text NOT NULL DEFAULT 'encrypted'
  CHECK (metadata_sidecar IN ('encrypted', 'plaintext', 'off'));

-- Down Migration
ALTER TABLE tenants DROP COLUMN metadata_sidecar;
