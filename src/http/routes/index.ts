import type { RouteSpec } from '../route.js';
import { apiKeyRoutes } from './api-keys.js';
import { auditToolRoutes } from './audit-tools.js';
import { awsSetupRoutes } from './aws-setup.js';
import { keyJobRoutes } from './key-jobs.js';
import { offboardingRoutes } from './offboarding.js';
import { opsRoutes } from './ops.js';
import { playbackRoute } from './playback.js';
import { publishedSchemaRoutes } from './published-schemas.js';
import { ingestRoute } from './recordings/ingest.js';
import { manageRoutes } from './recordings/manage.js';
import { readRoutes } from './recordings/read.js';
import { storageRoutes } from './storage.js';
import { tenantOpsRoutes } from './tenant-ops.js';
import { tenantRoutes } from './tenants.js';
import { webhookRoutes } from './webhooks.js';

/** Every route the service answers; the authorization tests iterate over this list. */
export const allRoutes: RouteSpec[] = [
  ...opsRoutes(() => allRoutes),
  ...tenantRoutes,
  ...apiKeyRoutes,
  ...storageRoutes,
  ...awsSetupRoutes,
  ...tenantOpsRoutes,
  ...keyJobRoutes,
  ...webhookRoutes,
  ...auditToolRoutes,
  ...offboardingRoutes,
  ...publishedSchemaRoutes,
  ingestRoute,
  ...readRoutes,
  ...manageRoutes,
  playbackRoute,
];
