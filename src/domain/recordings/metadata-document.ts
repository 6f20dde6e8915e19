import type { RecordingRow } from '../../db/recordings.js';
import { isWavContentType, wavDurationSeconds } from './wav.js';

/**
 * The metadata sidecar's content, schema v1: what tenants' analytics read beside each
 * recording without decrypting the audio. Its JSON Schema is `metadataJsonSchema` (also
 * published as `docs/schemas/recording-metadata.v1.json` and served at
 * `GET /v1/schemas/recording-metadata.v1.json`). A change to the fields is a v2.
 */
export const METADATA_SCHEMA_ID = 'https://custody.dev/schemas/recording-metadata/v1';

export interface RecordingMetadata {
  schema: typeof METADATA_SCHEMA_ID;
  recordingId: string;
  tenantId: string;
  callId: string;
  agentId: string | null;
  direction: 'inbound' | 'outbound' | null;
  startedAt: string | null;
  receivedAt: string;
  storedAt: string;
  durationSeconds: number | null;
  contentType: string;
  size: number;
  sha256: string;
}

type MetadataSource = Pick<
  RecordingRow,
  | 'id'
  | 'tenant_id'
  | 'call_id'
  | 'agent_id'
  | 'direction'
  | 'started_at'
  | 'created_at'
  | 'content_type'
  | 'size'
  | 'sha256'
>;

/** The document for a recording; `head` is the start of its plaintext (for a WAV's duration). */
export function metadataDocument(r: MetadataSource, storedAt: Date, head: Buffer): RecordingMetadata {
  return {
    schema: METADATA_SCHEMA_ID,
    recordingId: r.id,
    tenantId: r.tenant_id,
    callId: r.call_id,
    agentId: r.agent_id,
    direction: r.direction,
    startedAt: r.started_at ? r.started_at.toISOString() : null,
    receivedAt: r.created_at.toISOString(),
    storedAt: storedAt.toISOString(),
    durationSeconds: isWavContentType(r.content_type) ? wavDurationSeconds(head, r.size) : null,
    contentType: r.content_type,
    size: r.size,
    sha256: r.sha256,
  };
}

const dateTime = { type: 'string', format: 'date-time' } as const;

/** JSON Schema (draft 2020-12) of `RecordingMetadata`. */
export const metadataJsonSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: METADATA_SCHEMA_ID,
  title: 'Custody recording metadata (v1)',
  description:
    'Written beside each recording in the tenant’s storage as <recordingId>.meta.json.esdk (an AWS Encryption SDK message under the tenant’s key, the same data key and encryption context as the audio) or <recordingId>.meta.json (plaintext, when the tenant chose so).',
  type: 'object',
  additionalProperties: false,
  required: [
    'schema',
    'recordingId',
    'tenantId',
    'callId',
    'agentId',
    'direction',
    'startedAt',
    'receivedAt',
    'storedAt',
    'durationSeconds',
    'contentType',
    'size',
    'sha256',
  ],
  properties: {
    schema: { const: METADATA_SCHEMA_ID, description: 'Names this schema and its version.' },
    recordingId: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,128}$' },
    tenantId: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$' },
    callId: { type: 'string', minLength: 1, maxLength: 128 },
    agentId: { type: ['string', 'null'] },
    direction: { enum: ['inbound', 'outbound', null] },
    startedAt: {
      ...dateTime,
      type: ['string', 'null'],
      description: 'When the call started, if the recorder said.',
    },
    receivedAt: { ...dateTime, description: 'When Custody received the recording.' },
    storedAt: { ...dateTime, description: 'When the encrypted audio was stored and verified.' },
    durationSeconds: {
      type: ['number', 'null'],
      minimum: 0,
      description:
        'From the WAV header (byte rate and data size); null for other formats or an unreadable header.',
    },
    contentType: { type: 'string', description: 'As the recorder posted it.' },
    size: { type: 'integer', minimum: 0, description: 'Bytes of audio (plaintext).' },
    sha256: {
      type: 'string',
      pattern: '^[0-9a-f]{64}$',
      description: 'SHA-256 of the audio (plaintext), hex.',
    },
  },
} as const;
