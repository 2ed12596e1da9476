#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the server tests and prints the line that points
# them at it:  eval "$(bash scripts/ci-postgres.sh)"
# Installs Debian's postgresql package when missing; runs initdb + pg_ctl as the `postgres`
# user in a temp dir on a free loopback port (no system service). Everything but the final
# `export` line goes to stderr so that eval only sees the export.
#   bash scripts/ci-postgres.sh stop "$SOUS_TEST_POSTGRES_DATA"   stops such a cluster, removes its folder
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

run_as_postgres() {
  if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "${1:-}" = "stop" ]; then
  data="${2:?usage: ci-postgres.sh stop DATA_DIR}"
  # Only a folder this script made: its parent is a /tmp/sous-ci-pg.* temp dir.
  case "$data" in /tmp/sous-ci-pg.*/data) ;; *) echo "ci-postgres: not a cluster of this script: $data" >&2; exit 2 ;; esac
  run_as_postgres "$(find_bin)/pg_ctl" -D "$data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$(dirname "$data")"
  exit 0
fi

bin="$(find_bin)"
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "ci-postgres: installing postgresql from Debian's packages" >&2
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends postgresql >&2
  bin="$(find_bin)"
fi
[ -x "$bin/initdb" ] || { echo "ci-postgres: initdb not found after install" >&2; exit 1; }

dir="$(mktemp -d /tmp/sous-ci-pg.XXXXXX)"
chmod 755 "$dir"
[ "$(id -u)" = "0" ] && chown postgres:postgres "$dir"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null || echo $((20000 + RANDOM % 20000)))"

run_as_postgres "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >&2
run_as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off -c max_connections=200" start >&2
run_as_postgres "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres sous_test >&2

echo "ci-postgres: cluster in $dir on 127.0.0.1:$port (stop: runuser -u postgres -- $bin/pg_ctl -D $dir/data stop)" >&2
echo "export SOUS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$port/sous_test"
# Where the cluster lives, so that whoever started it can stop it (pg_ctl -D ... stop).
echo "export SOUS_TEST_POSTGRES_DATA=$dir/data"
