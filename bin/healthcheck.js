#!/usr/bin/env node
// The container's HEALTHCHECK (slim images have no curl). Exits 0 when /healthz answers
// 200 on PORT (`api`, `start`) or on CUSTODY_WORKER_METRICS_PORT (`worker`): the image
// does not know which role its command picked, and only one of the two is listening.
const ports = [process.env.PORT || '8080', process.env.CUSTODY_WORKER_METRICS_PORT || '9464'];
const TIMEOUT_MS = 4000;

const probe = async (port) => {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (res.status !== 200) throw new Error(`port ${port}: HTTP ${res.status}`);
};

Promise.any(ports.map(probe)).then(
  () => process.exit(0),
  () => {
    process.stderr.write(`unhealthy: no /healthz on ports ${ports.join(', ')}\n`);
    process.exit(1);
  },
);
