-- Up Migration

-- A tenant's webhook receivers. Events come from the tenant's audit chain: the dispatcher
-- reads entries after cursor_seq, so an endpoint needs no emission calls anywhere.
CREATE TABLE webhook_endpoints (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants (id),
  url text NOT NULL,
  events text[] NOT NULL,
  -- The signing secret, sealed under the service secrets key (bound to tenant and endpoint);
  -- cleared when the endpoint is deleted.
  secret_ciphertext bytea,
  -- Last audit seq the dispatcher has decided on (queued for delivery, or not subscribed).
  -- Starts at the tenant's audit head when the endpoint is created: only future events go out.
  cursor_seq bigint NOT NULL,
  active boolean NOT NULL DEFAULT true,
  disabled_reason text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id, created_at) WHERE active;

-- The delivery log: one row per (endpoint, event), never the response body.
CREATE TABLE webhook_deliveries (
  endpoint_id text NOT NULL REFERENCES webhook_endpoints (id),
  seq bigint NOT NULL,
  event_type text NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  last_attempt_at timestamptz,
  last_http_status integer,
  last_error text,
  next_attempt_at timestamptz,
  delivered_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (endpoint_id, seq)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';

-- Down Migration
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
