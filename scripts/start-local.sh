#!/usr/bin/env bash
# Starts a working single-machine Custody on the `local` provider (a directory standing in
# for the tenant's bucket, a generated local master key standing in for its KMS key):
# Redis and PostgreSQL (started, or installed and started, when missing), dependencies,
# build, migrations, then `custody start` in the background on $PORT (default 8080).
# Prints a curl walkthrough. Stop it with: kill "$(cat data/custody.pid)"
set -euo pipefail
cd "$(dirname "$0")/.."
export PORT="${PORT:-8080}"
mkdir -p data

bash scripts/ensure-services.sh custody
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build --silent

if [ -z "${CUSTODY_ADMIN_TOKEN:-}" ]; then
  [ -s data/admin-token ] || (umask 077 && node -e "process.stdout.write(require('crypto').randomBytes(24).toString('base64url'))" > data/admin-token)
  CUSTODY_ADMIN_TOKEN="$(cat data/admin-token)"
  export CUSTODY_ADMIN_TOKEN
fi

if [ -s data/custody.pid ] && kill -0 "$(cat data/custody.pid)" 2>/dev/null; then
  echo "custody already running (pid $(cat data/custody.pid))"
else
  nohup node bin/custody.js start >> data/custody.log 2>&1 &
  echo $! > data/custody.pid
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
  curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null || { echo "custody did not become ready; see data/custody.log"; exit 1; }
fi
node scripts/demo-wav.mjs data/demo.wav 10

cat <<WALK
Custody is running on http://localhost:$PORT (pid $(cat data/custody.pid), logs in data/custody.log).
The operator token is in data/admin-token. Walkthrough (copy and paste):

  export C=http://localhost:$PORT ADMIN="\$(cat data/admin-token)"
  # 1. a tenant, with 90 days' retention
  curl -s -X POST \$C/v1/tenants -H "Authorization: Bearer \$ADMIN" -H 'content-type: application/json' \\
       -d '{"id":"acme","name":"Acme Bank","retention":"P90D"}'
  # 2. its storage: the local provider (runs the test-encrypt handshake)
  curl -s -X PUT \$C/v1/tenants/acme/storage -H "Authorization: Bearer \$ADMIN" -H 'content-type: application/json' \\
       -d '{"provider":"local"}'
  # 3. an API key for the recorder and the CRM (shown once)
  KEY=\$(curl -s -X POST \$C/v1/tenants/acme/api-keys -H "Authorization: Bearer \$ADMIN" -H 'content-type: application/json' \\
       -d '{"name":"demo","scopes":["recordings:write","recordings:read"]}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).key')
  # 4. post a WAV (202 once spooled, encrypted)
  ID=\$(curl -s -X POST "\$C/v1/recordings?callId=call-1" -H "Authorization: Bearer \$KEY" -H 'content-type: audio/wav' \\
       --data-binary @data/demo.wav | node -pe 'JSON.parse(require("fs").readFileSync(0)).id')
  # 5. its status (queued → transferring → stored)
  curl -s \$C/v1/recordings/\$ID -H "Authorization: Bearer \$KEY"
  # 6. a playback link (15 minutes), then play it and seek
  URL=\$(curl -s -X POST \$C/v1/recordings/\$ID/playback-link -H "Authorization: Bearer \$KEY" -H 'content-type: application/json' \\
       -d '{"onBehalfOf":"agent-7"}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).url')
  curl -s "\$URL" -o played.wav && cmp played.wav data/demo.wav && echo "played back identical"
  curl -s -D - -o /dev/null -H 'Range: bytes=80000-80099' "\$URL"    # seek: 206 Partial Content
  # 7. the audit trail (hash chain)
  curl -s \$C/v1/tenants/acme/audit -H "Authorization: Bearer \$ADMIN"

Open \$URL in a browser: it plays in an <audio> element and seeks.
WALK
