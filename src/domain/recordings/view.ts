import { randomBytes } from 'node:crypto';
import type { RecordingRow } from '../../db/recordings.js';

/** Server-generated, URL-safe, never numeric-only, never containing `:`. */
export const newRecordingId = () => `rec_${randomBytes(16).toString('base64url')}`;

export interface RecordingView {
  id: string;
  tenantId: string;
  status: string;
  callId: string;
  agentId?: string;
  startedAt?: string;
  direction?: string;
  contentType: string;
  size: number;
  sha256: string;
  createdAt: string;
  storedAt?: string;
  expiresAt: string;
  legalHold: boolean;
  legalHoldReason?: string;
  storage?: { provider: string; storageVersion: number; location: string; keyId: string };
  error?: { code: string; message: string };
}

export function recordingView(r: RecordingRow): RecordingView {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    status: r.status,
    callId: r.call_id,
    ...(r.agent_id ? { agentId: r.agent_id } : {}),
    ...(r.started_at ? { startedAt: r.started_at.toISOString() } : {}),
    ...(r.direction ? { direction: r.direction } : {}),
    contentType: r.content_type,
    size: r.size,
    sha256: r.sha256,
    createdAt: r.created_at.toISOString(),
    ...(r.stored_at ? { storedAt: r.stored_at.toISOString() } : {}),
    expiresAt: r.expires_at.toISOString(),
    legalHold: r.legal_hold,
    ...(r.legal_hold && r.legal_hold_reason ? { legalHoldReason: r.legal_hold_reason } : {}),
    ...(r.status === 'stored' && r.provider && r.storage_version && r.location && r.key_id
      ? {
          storage: {
            provider: r.provider,
            storageVersion: r.storage_version,
            location: r.location,
            keyId: r.key_id,
          },
        }
      : {}),
    ...(r.error_code && (r.status === 'blocked' || r.status === 'failed')
      ? { error: { code: r.error_code, message: r.error_message ?? '' } }
      : {}),
  };
}
