#!/usr/bin/env bash
# Client grants of the release build over loopback (`just bench --clients`):
# client_credentials grants and refresh grants per second, with RS256 (the
# default) and EdDSA, each beside the limits of this same run: one core's
# signatures per CPU second (bench_helper sign-rate) and, for refresh, the
# durable commits per second of the database's disk (fsync-rate; SQLite).
#
#   bench/clients.sh [--duration SECONDS] [--database postgres://...]
#
# With --database (PostgreSQL), each algorithm runs in a database of its own
# created on that server and dropped after. Writes bench/results-clients.md;
# raw output in bench/out/clients-*. Nothing is asserted.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${BENCH_DURATION:-8}
DATABASE=
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION=$2; shift 2 ;;
        --database) DATABASE=$2; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

CONNS=16
CORES=$(nproc)
TICKS=$(getconf CLK_TCK)
OUT=bench/out
RESULTS=bench/results-clients.md
KEYCLOAK_PER_VCPU=120
mkdir -p "$OUT"
say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
command -v wrk >/dev/null || die "wrk is needed (apt-get install wrk)"
if command -v taskset >/dev/null; then PIN=(taskset -c 0); else PIN=(); fi

say "building the release binary and the benchmark helper"
nice -n 10 cargo build --release --quiet --bin tollgate --example bench_helper
BIN=target/release/tollgate
HELPER=target/release/examples/bench_helper

SERVER=""
WORK=""
PGDB=""
cleanup() {
    [ -n "$SERVER" ] && kill -TERM "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
    [ -n "$WORK" ] && rm -rf "$WORK"
    [ -n "$PGDB" ] && psql "$DATABASE" -qAtc "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)" >/dev/null 2>&1
    SERVER="" WORK="" PGDB=""
}
trap cleanup EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# measure NAME MODE: runs wrk, prints "rate cpu_per_req_us errors".
measure() {
    local name=$1 mode=$2 before after
    before=$(cpu_ticks "$SERVER")
    BENCH_MODE=$mode BENCH_THREADS=1 "${PIN[@]}" wrk -t1 -c"$CONNS" -d"${DURATION}s" \
        -s bench/clients.lua "http://127.0.0.1:$PORT" >"$OUT/clients-$name.txt" 2>&1
    after=$(cpu_ticks "$SERVER")
    local requests errors rate
    requests=$(awk '/requests in/ {print $1}' "$OUT/clients-$name.txt")
    errors=$(awk '/Non-2xx/ {print $NF}' "$OUT/clients-$name.txt")
    rate=$(awk '/Requests\/sec/ {print $2}' "$OUT/clients-$name.txt")
    echo "$rate $(( (after - before) * 1000000 / TICKS / (requests > 0 ? requests : 1) )) ${errors:-0}"
}

ROWS=()
for ALG in RS256 EdDSA; do
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-bench-clients.XXXXXX")
    if [ -n "$DATABASE" ]; then
        PGDB="bench_clients_$$_$(echo "$ALG" | tr 'A-Z' 'a-z')"
        psql "$DATABASE" -qAtc "CREATE DATABASE $PGDB" >/dev/null || die "CREATE DATABASE"
        URL="${DATABASE%/*}/$PGDB"
        ENGINE=postgres
    else
        URL="sqlite://$WORK/tollgate.db"
        ENGINE=sqlite
    fi
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    say "$ALG on $ENGINE: starting the server on port $PORT"
    # Logins only seed the refresh tokens: bcrypt at cost 4 keeps that short.
    TOLLGATE_DATABASE_URL=$URL TOLLGATE_BIND=127.0.0.1:$PORT TOLLGATE_JWT_ALG=$ALG \
        TOLLGATE_PASSWORD_HASH=bcrypt TOLLGATE_BCRYPT_COST=4 \
        "$BIN" serve >"$WORK/server.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    ADMIN_PASSWORD=$(grep -oE 'initial admin password: [^ ]+' "$WORK/server.log" | cut -d' ' -f4)
    SECRET=$(TOLLGATE_DATABASE_URL=$URL "$BIN" client add bench-cc --grants client_credentials --scopes admin | tail -n 1)
    export BENCH_BASIC
    BENCH_BASIC=$(printf 'bench-cc:%s' "$SECRET" | base64 -w0)
    say "$ALG on $ENGINE: client_credentials"
    read -r CC_RATE CC_CPU CC_ERR <<<"$(measure "cc-$ENGINE-$ALG" cc)"

    : >"$WORK/tokens"
    for _ in $(seq 1 $((CONNS * 2))); do
        curl -fsS "http://127.0.0.1:$PORT/token" -d username=admin --data-urlencode "password=$ADMIN_PASSWORD" |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["refresh_token"])' >>"$WORK/tokens"
    done
    export BENCH_TOKENS=$WORK/tokens
    say "$ALG on $ENGINE: refresh"
    read -r RF_RATE RF_CPU RF_ERR <<<"$(measure "refresh-$ENGINE-$ALG" refresh)"

    SIGNS=$("$HELPER" sign-rate "$ALG" 3 | sed 's/.*=//')
    if [ "$ENGINE" = sqlite ]; then
        FSYNCS=$("$HELPER" fsync-rate "$WORK" 3 | sed 's/.*=//')
    else
        FSYNCS="-"
    fi
    ROWS+=("$ENGINE $ALG $CC_RATE $CC_CPU $CC_ERR $RF_RATE $RF_CPU $RF_ERR $SIGNS $FSYNCS")
    cleanup
done

{
    echo "# Client grants: client_credentials and refresh"
    echo
    echo "Written by \`bench/clients.sh\` on $(date -u +%Y-%m-%d), $CORES cores ($(nproc --all) online), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; wrk -t1 -c$CONNS for ${DURATION}s per row, pinned to core 0 beside the server."
    echo
    echo "- per core used: grants per second of the server's own CPU (user + system); the signing limit is one core's signatures per CPU second, measured in this run (\`bench_helper sign-rate\`)"
    echo "- per machine core: the rate divided by the $CORES cores, beside Keycloak's published sizing of $KEYCLOAK_PER_VCPU grants per vCPU"
    echo "- fsync limit: 4 KiB write + fdatasync rounds per second in the database's directory (SQLite only; every refresh commits, with the write's durability unchanged)"
    echo
    echo "| engine | alg | grant | grants/s | server CPU µs/grant | per core used | ÷ signing limit | per machine core | × Keycloak | errors | signing limit /core-s | fsync limit /s |"
    echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for row in "${ROWS[@]}"; do
        read -r engine alg cc_rate cc_cpu cc_err rf_rate rf_cpu rf_err signs fsyncs <<<"$row"
        for grant in client_credentials refresh_token; do
            if [ $grant = client_credentials ]; then rate=$cc_rate cpu=$cc_cpu err=$cc_err; else rate=$rf_rate cpu=$rf_cpu err=$rf_err; fi
            python3 - "$engine" "$alg" "$grant" "$rate" "$cpu" "$err" "$signs" "$fsyncs" "$CORES" "$KEYCLOAK_PER_VCPU" <<'PY'
import sys
engine, alg, grant, rate, cpu, err, signs, fsyncs, cores, keycloak = sys.argv[1:]
rate, cpu, signs, cores, keycloak = float(rate), float(cpu), float(signs), int(cores), float(keycloak)
per_core_used = 1e6 / cpu if cpu > 0 else float("nan")
per_machine_core = rate / cores
print(f"| {engine} | {alg} | {grant} | {rate:.0f} | {cpu:.0f} | {per_core_used:.0f} | {per_core_used / signs:.2f} "
      f"| {per_machine_core:.0f} | {per_machine_core / keycloak:.1f} | {err} | {signs:.0f} | {fsyncs} |")
PY
        done
    done
} >"$RESULTS"
cat "$RESULTS"
