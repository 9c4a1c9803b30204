#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback, for development and CI.
#
#   scripts/pg.sh start   install PostgreSQL from Debian's packages if missing,
#                         create a cluster in $PG_DIR, start it on $PG_PORT,
#                         create the role and database `tollgate`, print the URL
#   scripts/pg.sh stop    stop that server (its files stay until `clean`)
#   scripts/pg.sh clean   stop it and delete $PG_DIR
#   scripts/pg.sh url     print the URL
#
# Knobs: PG_DIR (default /tmp/tollgate-pg), PG_PORT (default 55432), PG_FSYNC
# (default off: tests need no durability; `on` for benchmarks that count commits).
# The cluster listens on 127.0.0.1 only and asks TCP clients for a password
# (the role `tollgate` has the password `tollgate`); the superuser `postgres`
# connects through the socket in $PG_DIR. It is for development and tests,
# never for data you want to keep. `just pg` runs `start`.
set -euo pipefail

PG_DIR=${PG_DIR:-/tmp/tollgate-pg}
PG_PORT=${PG_PORT:-55432}
PG_FSYNC=${PG_FSYNC:-off}
URL="postgres://tollgate:tollgate@127.0.0.1:$PG_PORT/tollgate"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

bindir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

# Runs a PostgreSQL program as the cluster's owner: initdb refuses root.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

install() {
    bindir >/dev/null && return 0
    echo "installing PostgreSQL from Debian's packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    as_root apt-get install -y -qq postgresql >/dev/null
    bindir >/dev/null || { echo "no PostgreSQL binaries after install" >&2; exit 1; }
}

psql_admin() {
    as_owner "$(bindir)/psql" -h "$PG_DIR" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt "$@"
}

start() {
    install
    local bin
    bin=$(bindir)
    if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
        mkdir -p "$PG_DIR"
        [ "$(id -u)" -eq 0 ] && chown postgres: "$PG_DIR"
        as_owner "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-locale >/dev/null
    fi
    if ! as_owner "$bin/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; then
        as_owner "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
            -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=$PG_FSYNC" start >/dev/null
    fi
    if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = 'tollgate'")" != 1 ]; then
        psql_admin -c "CREATE ROLE tollgate LOGIN CREATEDB PASSWORD 'tollgate'"
    fi
    if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = 'tollgate'")" != 1 ]; then
        psql_admin -c "CREATE DATABASE tollgate OWNER tollgate"
    fi
    echo "$URL"
}

stop() {
    local bin
    bin=$(bindir) || return 0
    if [ -f "$PG_DIR/data/PG_VERSION" ]; then
        as_owner "$bin/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
clean) stop && rm -rf "$PG_DIR" ;;
url) echo "$URL" ;;
*) echo "usage: $0 start|stop|clean|url" >&2 && exit 2 ;;
esac
