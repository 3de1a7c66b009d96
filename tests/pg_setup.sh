#!/usr/bin/env bash
# A local PostgreSQL for the PostgreSQL half of the test suite.
#
#   eval "$(tests/pg_setup.sh)"      (what ./dev.sh test does)
#
# Installs PostgreSQL with apt-get when it is missing, starts the Debian cluster
# (pg_ctlcluster) or, when there is none, a private one made with initdb in a temporary
# directory, creates the role and database the tests connect to, and prints
#   export CTRLENS_TEST_PG_URL=postgresql://...
# on stdout. Everything else goes to stderr. Safe to run again: it only does what is missing.
set -euo pipefail

ROLE=${CTRLENS_TEST_PG_ROLE:-ctrlens_test}
PASSWORD=${CTRLENS_TEST_PG_PASSWORD:-ctrlens_test}
DATABASE=${CTRLENS_TEST_PG_DATABASE:-ctrlens_test}
PRIVATE_DIR=${CTRLENS_TEST_PG_DIR:-${TMPDIR:-/tmp}/ctrlens-pg}
PRIVATE_PORT=${CTRLENS_TEST_PG_PORT:-54329}
# CTRLENS_TEST_PG_PRIVATE=1 skips the system cluster and always uses the private one.

say() { echo "pg_setup: $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Run a command as the operating-system user that owns the cluster (peer authentication).
as_owner() {
  local owner=$1; shift
  if [ "$(id -un)" = "$owner" ]; then "$@"
  elif [ "$(id -u)" = 0 ]; then runuser -u "$owner" -- "$@"
  else sudo -u "$owner" -- "$@"
  fi
}

pg_bindir() {
  # The newest installed server's binaries (Debian keeps them out of PATH).
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$dir" ] && [ -x "$dir/postgres" ]; then echo "$dir"; return; fi
  dir=$(dirname "$(command -v postgres 2>/dev/null || command -v initdb 2>/dev/null || echo /nonexistent/x)")
  if [ -x "$dir/initdb" ]; then echo "$dir"; fi
}

install_postgres() {
  if [ -n "$(pg_bindir)" ]; then return; fi
  if ! command -v apt-get >/dev/null; then
    say "PostgreSQL is not installed and there is no apt-get; install PostgreSQL (server) and rerun"
    exit 1
  fi
  say "installing PostgreSQL with apt-get"
  as_root apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
}

wait_ready() {  # host port
  local bindir; bindir=$(pg_bindir)
  for _ in $(seq 1 100); do
    if "$bindir/pg_isready" -q -h "$1" -p "$2"; then return 0; fi
    sleep 0.1
  done
  say "PostgreSQL on $1:$2 did not become ready"
  exit 1
}

# Sets OWNER, SOCKET_DIR and PORT for the cluster it started (or found running).
start_debian_cluster() {
  [ -z "${CTRLENS_TEST_PG_PRIVATE:-}" ] || return 1
  command -v pg_lsclusters >/dev/null || return 1
  local line version name port status
  # Prefer the newest cluster; columns: Ver Cluster Port Status Owner Data Log.
  line=$(pg_lsclusters --no-header 2>/dev/null | sort -V -k1,1 | tail -n 1 || true)
  [ -n "$line" ] || return 1
  read -r version name port status OWNER _ <<<"$line"
  if [ "$status" != "online" ] && ! echo "$status" | grep -q online; then
    say "starting cluster $version/$name"
    if ! as_root pg_ctlcluster "$version" "$name" start >&2; then
      say "cluster $version/$name did not start; using a private cluster instead"
      return 1
    fi
  fi
  PORT=$port
  SOCKET_DIR=/var/run/postgresql
  wait_ready "$SOCKET_DIR" "$PORT"
}

start_private_cluster() {
  local bindir; bindir=$(pg_bindir)
  OWNER=$(id -un)
  if [ "$(id -u)" = 0 ]; then
    # initdb refuses to run as root.
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$PRIVATE_DIR" --shell /bin/false postgres
    OWNER=postgres
  fi
  PORT=$PRIVATE_PORT
  SOCKET_DIR=$PRIVATE_DIR
  mkdir -p "$PRIVATE_DIR"
  chown "$OWNER" "$PRIVATE_DIR"
  chmod 700 "$PRIVATE_DIR"
  if [ ! -f "$PRIVATE_DIR/data/PG_VERSION" ]; then
    say "creating a private cluster in $PRIVATE_DIR"
    as_owner "$OWNER" "$bindir/initdb" -D "$PRIVATE_DIR/data" -U "$OWNER" \
      --auth-local=peer --auth-host=scram-sha-256 >&2
  fi
  if ! as_owner "$OWNER" "$bindir/pg_ctl" -D "$PRIVATE_DIR/data" status >/dev/null 2>&1; then
    say "starting the private cluster on port $PORT"
    as_owner "$OWNER" "$bindir/pg_ctl" -D "$PRIVATE_DIR/data" -l "$PRIVATE_DIR/server.log" -w \
      -o "-c listen_addresses=127.0.0.1 -p $PORT -k $PRIVATE_DIR" start >&2
  fi
  wait_ready "$SOCKET_DIR" "$PORT"
}

psql_admin() {
  as_owner "$OWNER" "$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKET_DIR" -p "$PORT" \
    -U "$OWNER" -d postgres "$@"
}

create_role_and_database() {
  # Idempotent: the role gets its password (again) and CREATEDB, the database is made once.
  psql_admin -v role="$ROLE" -v password="$PASSWORD" >&2 <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN CREATEDB PASSWORD %L', :'role', :'password') \gexec
-- DROP DATABASE ... WITH (FORCE) at the end of the suite must also stop an autovacuum worker
-- busy in a test database, which only members of pg_signal_backend may (PostgreSQL 15).
SELECT format('GRANT pg_signal_backend TO %I', :'role') \gexec
SQL
  psql_admin -v role="$ROLE" -v database="$DATABASE" >&2 <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I', :'database', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'database') \gexec
SQL
}

install_postgres
start_debian_cluster || start_private_cluster
create_role_and_database
say "PostgreSQL ready on 127.0.0.1:$PORT (role $ROLE, database $DATABASE)"
echo "export CTRLENS_TEST_PG_URL=postgresql://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DATABASE"
