#!/usr/bin/env bash
# Makes sure Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432) are running, installing
# them from Debian's packages when missing, and that the current user can use the
# databases named as arguments (created when missing). Idempotent; used by `.ci/run` and
# `scripts/start-local.sh`.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

fresh_postgres=false
if ! have redis-server || ! have pg_ctlcluster; then
  echo "== installing redis-server and postgresql from Debian's packages"
  have pg_ctlcluster || fresh_postgres=true
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server postgresql >/dev/null
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "== starting redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no
  for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.2; done
fi

cluster="$(ls /etc/postgresql | sort -V | tail -n1)"
if $fresh_postgres; then
  # A fresh Debian cluster wants passwords on TCP; this single-machine setup trusts loopback only.
  hba="/etc/postgresql/$cluster/main/pg_hba.conf"
  as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+$/\1trust/' "$hba"
fi
if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
  echo "== starting postgresql $cluster"
  as_root pg_ctlcluster --skip-systemctl-redirect "$cluster" main start
  for _ in $(seq 1 50); do pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1 && break; sleep 0.2; done
elif $fresh_postgres; then
  as_root pg_ctlcluster --skip-systemctl-redirect "$cluster" main reload
fi

user="${PGUSER:-$(id -un)}"
if ! psql -h 127.0.0.1 -U "$user" -d postgres -c 'select 1' >/dev/null 2>&1; then
  as_root su postgres -c "psql -qc 'CREATE ROLE \"$user\" SUPERUSER LOGIN'" >/dev/null
fi
for db in "$@"; do
  if ! psql -h 127.0.0.1 -U "$user" -d postgres -tAc "select 1 from pg_database where datname='$db'" | grep -q 1; then
    psql -h 127.0.0.1 -U "$user" -d postgres -qc "CREATE DATABASE \"$db\""
  fi
done
redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null && pg_isready -h 127.0.0.1 -p 5432 >/dev/null
echo "== redis and postgresql ready"
