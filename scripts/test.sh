#!/usr/bin/env bash
# Runs every test on this machine: Redis and PostgreSQL (started, or installed and started,
# when missing), dependencies exactly as locked, type-check, lint, then `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-services.sh test
npm ci --no-audit --no-fund
npm run typecheck
npm run lint
npm run build
npm test
