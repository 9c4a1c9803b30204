#!/usr/bin/env bash
# Load benchmark of the release build over loopback (`just bench`); see
# bench/README.md for what it measures and why.
#
#   bench/run.sh [--users N] [--duration SECONDS] [--database URL]
#   bench/run.sh --logins [--duration SECONDS]
#   bench/run.sh --clients [--duration SECONDS] [--database URL]
#
#   --users N       also seed N users by direct inserts and compare GET /users/me
#                   with 10 users against N users (env BENCH_USERS; 0 skips it;
#                   SQLite only)
#   --duration S    seconds per measurement (env BENCH_DURATION, default 8)
#   --database URL  serve this database (TOLLGATE_DATABASE_URL) instead of a
#                   fresh SQLite file in a temp dir; it is never deleted, and a
#                   user `bench-<random>` with 10 items is left in it
#   --logins        only logins: POST /token with each password hash profile
#                   (bcrypt 12 and 10, OWASP's five Argon2id ones), each on a
#                   fresh SQLite file; logins/s per core and peak RSS beside
#                   Keycloak's 15 per vCPU. Writes bench/results-logins.md
#   --clients       only client grants (bench/clients.sh): client_credentials
#                   and refresh grants per second, RS256 and EdDSA, beside the
#                   signing and fsync limits. Writes bench/results-clients.md
#
# The server runs as a user runs it: default settings (log level info, text
# lines, standard error sent to a file). A second node at TOLLGATE_LOG=warn
# and a JWT-only ceiling (examples/jwt_ceiling.rs) run beside it, and every
# ratio compares measurements of this same run, taken in turns. Nothing here
# is asserted: the table says which targets were met. Writes bench/results.md (bench/results-postgres.md with a postgres:// --database);
# raw output goes to bench/out/.
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${BENCH_USERS:-0}
DURATION=${BENCH_DURATION:-8}
DATABASE=
LOGINS_ONLY=
while [ $# -gt 0 ]; do
    case "$1" in
        --users) USERS=$2; shift 2 ;;
        --users=*) USERS=${1#*=}; shift ;;
        --duration) DURATION=$2; shift 2 ;;
        --duration=*) DURATION=${1#*=}; shift ;;
        --database) DATABASE=$2; shift 2 ;;
        --database=*) DATABASE=${1#*=}; shift ;;
        --logins) LOGINS_ONLY=yes; shift ;;
        --clients) shift; exec ./bench/clients.sh "$@" ;;
        -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

CONNS=64             # connections of every GET measurement and of the login storm
LOGIN_CONNS=16       # connections of the logins-only measurement
SIZE_TOKENS=1000     # distinct users whose tokens the size comparison rotates through
CORES=$(nproc)
TICKS=$(getconf CLK_TCK)
OUT=bench/out
RESULTS=bench/results.md
mkdir -p "$OUT"
rm -f "$OUT"/*.txt "$OUT"/*.log "$OUT"/tokens-*

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# --- the load generator -------------------------------------------------------
if ! command -v wrk >/dev/null; then
    say "installing wrk (Debian package)"
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get install -y wrk >/dev/null 2>&1 ||
        { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y wrk >/dev/null; } ||
        die "could not install wrk; install it (apt-get install wrk) and run again"
fi
command -v curl >/dev/null || die "curl is needed"
# wrk runs on core 0; the server may use every core (on 2 cores it shares core 0).
if command -v taskset >/dev/null; then PIN=(taskset -c 0); else PIN=(); fi

# --- build --------------------------------------------------------------------
say "building the release binary, the benchmark helper and the ceiling"
nice -n 10 cargo build --release --quiet --bin tollgate --example bench_helper --example jwt_ceiling
BIN=target/release/tollgate
HELPER=target/release/examples/bench_helper
CEILING_BIN=target/release/examples/jwt_ceiling

# --- the database -------------------------------------------------------------
# Only the temp dir is ever deleted: a database given with --database is left
# as it was, but for the bench user.
TMP=$(mktemp -d)
if [ -n "$DATABASE" ]; then
    DB_URL=$DATABASE
    FRESH=
else
    DB_URL="sqlite://$TMP/bench.db"
    FRESH=yes
fi
case "$DB_URL" in sqlite:*) SQLITE=yes ;; *) SQLITE= ;; esac
# Each engine's latest figures in a file of their own.
case "$DB_URL" in postgres*) RESULTS=bench/results-postgres.md ;; esac
export TOLLGATE_DATABASE_URL=$DB_URL
# The settings users run: no log level, format or cost set here.
unset TOLLGATE_LOG RUST_LOG TOLLGATE_LOG_FORMAT TOLLGATE_BCRYPT_COST TOLLGATE_BIND \
    TOLLGATE_PASSWORD_HASH TOLLGATE_ARGON2_MEMORY TOLLGATE_ARGON2_ITERATIONS TOLLGATE_ARGON2_PARALLELISM
if [ -z "${TOLLGATE_JWT_SECRET:-}" ]; then
    # The HS256 figures (the targets are against the HS256 ceiling): one key
    # for the nodes and the ceiling alike. Without a secret the default
    # algorithm is RS256, with its key in the database.
    TOLLGATE_JWT_SECRET=$(head -c 36 /dev/urandom | base64 | tr -d '\n')
    export TOLLGATE_JWT_SECRET
    SECRET_NOTE="TOLLGATE_JWT_SECRET set by the script, so every server signs HS256 with one key"
fi
# Every node and the ceiling name one issuer (the default names each node's port).
export TOLLGATE_ISSUER=${TOLLGATE_ISSUER:-http://tollgate.bench.test}

# --- the servers ----------------------------------------------------------------
# A node is one server process with a name: NODE_URL[name], NODE_PID[name],
# NODE_LOG[name]. Another node on the same database (the row "two nodes on one
# database") is one more start_node with its own name.
declare -A NODE_URL NODE_PID NODE_LOG
STORM_PID=
cleanup() {
    local pid
    for pid in "${NODE_PID[@]}" ${STORM_PID:-}; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

free_port() {
    local port
    for _ in $(seq 50); do
        port=$((20000 + RANDOM % 20000))
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
    done
    die "no free port found"
}

PEAK_RSS_KB=0
# start_node NAME [VAR=VALUE...] [-- CMD...]: starts tollgate (or CMD) on a free
# port with those settings, its standard error appended to a file; sets
# STARTUP_MS, the time from the start until /healthz answers.
start_node() {
    local name=$1 port line
    shift
    local env=() cmd=("$BIN")
    while [ $# -gt 0 ]; do
        if [ "$1" = -- ]; then shift; cmd=("$@"); break; fi
        env+=("$1"); shift
    done
    port=$(free_port)
    NODE_LOG[$name]=$TMP/$name.log
    line=$(env TOLLGATE_BIND="127.0.0.1:$port" "${env[@]}" \
        "$HELPER" start "127.0.0.1:$port" "${NODE_LOG[$name]}" -- "${cmd[@]}") ||
        { tail -5 "${NODE_LOG[$name]}" >&2; die "$name did not start"; }
    NODE_PID[$name]=${line% *}
    NODE_URL[$name]="http://127.0.0.1:$port"
    STARTUP_MS=${line#* }
}
# stop_node NAME: stops it gracefully, keeping the highest VmHWM seen.
stop_node() {
    local name=$1 pid=${NODE_PID[$1]} hwm
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    { printf '%s: ' "$name"; grep -E '^(VmHWM|VmRSS|RssAnon|RssFile):' "/proc/$pid/status" |
        tr -s ' \t' ' ' | paste -sd' '; } >>"$OUT/rss.txt" || true
    [ "${hwm:-0}" -gt "$PEAK_RSS_KB" ] && PEAK_RSS_KB=$hwm
    kill -TERM "$pid"
    # Not our child (the helper started it): poll until it is gone or a zombie.
    while grep -qs '^State:[[:space:]]*[^Z]' "/proc/$pid/status"; do sleep 0.02; done
    unset "NODE_PID[$name]"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# --- measuring ------------------------------------------------------------------
# Per measurement: RPS, P50, P99 (ms), ERRS, and the server's CPU: TICKS_USED
# (utime + stime over the run) and REQS, so that CPU_US = CPU µs per request.
declare -A RPS P50 P99 ERRS REQS TICKS_USED CPU_US
# measure NAME NODE CONNS SECONDS PATH [VAR=VALUE...]: one wrk run against NODE,
# env for bench/wrk.lua.
measure() {
    local name=$1 node=$2 conns=$3 secs=$4 path=$5 before after
    shift 5
    before=$(cpu_ticks "${NODE_PID[$node]}")
    env "$@" "${PIN[@]}" wrk -t1 -c"$conns" -d"${secs}s" --timeout 60s -s bench/wrk.lua \
        "${NODE_URL[$node]}$path" >"$OUT/$name.txt" 2>&1 || die "wrk failed for $name (see $OUT/$name.txt)"
    after=$(cpu_ticks "${NODE_PID[$node]}")
    TICKS_USED[$name]=$((after - before))
    summarize "$name"
}
# summarize NAME: reads the RESULT line of $OUT/NAME.txt.
summarize() {
    local name=$1 line kv requests=0 duration_us=1 p50_us=0 p99_us=0
    local status_errors=0 timeouts=0 socket_errors=0
    line=$(grep '^RESULT ' "$OUT/$name.txt") || die "no result for $name (see $OUT/$name.txt)"
    for kv in ${line#RESULT }; do local "$kv"; done
    REQS[$name]=$requests
    RPS[$name]=$(awk -v r="$requests" -v d="$duration_us" 'BEGIN {printf "%.1f", r / (d / 1e6)}')
    P50[$name]=$(awk -v v="$p50_us" 'BEGIN {printf "%.2f", v / 1000}')
    P99[$name]=$(awk -v v="$p99_us" 'BEGIN {printf "%.2f", v / 1000}')
    ERRS[$name]=$((status_errors + timeouts + socket_errors))
    cpu_per_request "$name"
    say "$(printf '%-20s %10s req/s  p50 %7s ms  p99 %7s ms  errors %s  CPU %s µs/req' "$name" \
        "${RPS[$name]}" "${P50[$name]}" "${P99[$name]}" "${ERRS[$name]}" "${CPU_US[$name]}")"
}
cpu_per_request() {
    local name=$1
    CPU_US[$name]=
    [ -n "${TICKS_USED[$name]:-}" ] && CPU_US[$name]=$(awk -v t="${TICKS_USED[$name]}" \
        -v hz="$TICKS" -v r="${REQS[$name]}" 'BEGIN {printf "%.1f", (r > 0) ? t / hz * 1e6 / r : 0}')
    return 0
}
# The server goes on with a request whose client has gone (a login keeps its
# bcrypt): wait until it has used under 5% of a core for half a second.
wait_idle() {
    local pid=${NODE_PID[$1]} before after waited=0
    for _ in $(seq 120); do
        before=$(cpu_ticks "$pid")
        sleep 0.5
        after=$(cpu_ticks "$pid")
        [ $((after - before)) -le $((TICKS / 40)) ] && break
        waited=$((waited + 1))
    done
    [ "$waited" -gt 0 ] && say "waited $((waited / 2)).$((waited % 2 * 5)) s for the server to finish abandoned requests"
    return 0
}
# combine NAME ROUND...: NAME gets the mean rate and p50 of the rounds, their
# worst p99, their summed CPU and requests, and SPREAD, the lowest and highest rate.
declare -A SPREAD ALG_TOKEN
combine() {
    local name=$1 round
    shift
    RPS[$name]=$(for round; do echo "${RPS[$round]}"; done | awk '{s += $1} END {printf "%.1f", s / NR}')
    P50[$name]=$(for round; do echo "${P50[$round]}"; done | awk '{s += $1} END {printf "%.2f", s / NR}')
    P99[$name]=$(for round; do echo "${P99[$round]}"; done | sort -n | tail -1)
    ERRS[$name]=$(for round; do echo "${ERRS[$round]}"; done | awk '{s += $1} END {print s}')
    REQS[$name]=$(for round; do echo "${REQS[$round]}"; done | awk '{s += $1} END {print s}')
    TICKS_USED[$name]=$(for round; do echo "${TICKS_USED[$round]}"; done | awk '{s += $1} END {print s}')
    SPREAD[$name]=$(for round; do echo "${RPS[$round]}"; done | sort -n | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.0f to %.0f", lo, hi}')
    cpu_per_request "$name"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", (b > 0) ? a / b : 0}'; }
# round_ratios A B ROUNDS: the lowest and highest A_r ÷ B_r over the rounds.
round_ratios() {
    local a=$1 b=$2 rounds=$3 r
    for r in $(seq "$rounds"); do ratio "${RPS[${a}_$r]}" "${RPS[${b}_$r]}"; echo; done |
        sort -n | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%s to %s", lo, hi}'
}

json_field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
say "load average before: $LOAD_BEFORE (on $CORES cores; a busy machine lowers every number)"

# --- logins only: one node per password hash profile ---------------------------------
# Each profile on a fresh SQLite file with its user hashed at that profile;
# POST /token with the right password, LOGIN_CONNS connections (queued
# behind one hash per core), then the node's peak RSS (VmHWM).
if [ -n "$LOGINS_ONLY" ]; then
    PROFILES=(
        "bcrypt-12 TOLLGATE_PASSWORD_HASH=bcrypt TOLLGATE_BCRYPT_COST=12"
        "bcrypt-10 TOLLGATE_PASSWORD_HASH=bcrypt TOLLGATE_BCRYPT_COST=10"
        "argon2id-m47104-t1 TOLLGATE_PASSWORD_HASH=argon2id TOLLGATE_ARGON2_MEMORY=47104 TOLLGATE_ARGON2_ITERATIONS=1"
        "argon2id-m19456-t2 TOLLGATE_PASSWORD_HASH=argon2id TOLLGATE_ARGON2_MEMORY=19456 TOLLGATE_ARGON2_ITERATIONS=2"
        "argon2id-m12288-t3 TOLLGATE_PASSWORD_HASH=argon2id TOLLGATE_ARGON2_MEMORY=12288 TOLLGATE_ARGON2_ITERATIONS=3"
        "argon2id-m9216-t4 TOLLGATE_PASSWORD_HASH=argon2id TOLLGATE_ARGON2_MEMORY=9216 TOLLGATE_ARGON2_ITERATIONS=4"
        "argon2id-m7168-t5 TOLLGATE_PASSWORD_HASH=argon2id TOLLGATE_ARGON2_MEMORY=7168 TOLLGATE_ARGON2_ITERATIONS=5"
    )
    RESULTS=bench/results-logins.md
    BENCH_USER=bench-$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')
    BENCH_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
    LOGIN_BODY="grant_type=password&username=$BENCH_USER&password=$BENCH_PASSWORD"
    declare -A HWM_MB VERIFY_CPU
    say "logins only: ${#PROFILES[@]} profiles, $DURATION s each, $LOGIN_CONNS connections"
    for entry in "${PROFILES[@]}"; do
        read -r name settings <<<"$entry"
        read -ra settings <<<"$settings"
        url="sqlite://$TMP/$name.db"
        printf '%s\n' "$BENCH_PASSWORD" | env "${settings[@]}" TOLLGATE_DATABASE_URL="$url" \
            "$BIN" user add "$BENCH_USER" --password-stdin >>"$OUT/user-add.log" 2>&1 ||
            die "could not add the bench user for $name (see $OUT/user-add.log)"
        VERIFY_CPU[$name]=$(env "${settings[@]}" "$HELPER" hash-cpu 3 | sed -n 's/.*cpu_ms=\([0-9.]*\).*/\1/p')
        start_node "$name" "${settings[@]}" TOLLGATE_DATABASE_URL="$url"
        measure "warmup_$name" "$name" "$LOGIN_CONNS" 1 /token BENCH_BODY="$LOGIN_BODY" 2>/dev/null
        wait_idle "$name"
        measure "logins_$name" "$name" "$LOGIN_CONNS" "$DURATION" /token BENCH_BODY="$LOGIN_BODY"
        wait_idle "$name"
        HWM_MB[$name]=$(awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/${NODE_PID[$name]}/status")
        stop_node "$name"
    done
    LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
    {
        echo "# Logins by password hash profile"
        echo
        echo "- $(date -u +%Y-%m-%dT%H:%MZ), $CORES cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load average before $LOAD_BEFORE, after $LOAD_AFTER"
        echo "- \`just bench --logins\`: release build, one node per profile on a fresh SQLite file, POST /token with the right password over $LOGIN_CONNS connections for $DURATION s (wrk pinned to core 0); at most one hash per core at once"
        echo "- per core = logins/s ÷ $CORES cores; Keycloak's published sizing: 15 password logins/s per vCPU (Argon2id m=7 MiB, t=5, p=1)"
        echo "- by CPU: the server's CPU time (utime + stime) per login over the measurement, and the logins one core would serve at that cost (1 s ÷ it): steadier than the rate on a shared machine, where the rate follows the CPU share the server gets"
        echo "- peak RSS: the node's VmHWM after its run (start-up, the warm-up second and the measurement)"
        echo
        echo "| profile | logins/s | per core | ÷ Keycloak's 15 | CPU ms per login | per core by CPU | p50 ms | p99 ms | errors | one verify, ms CPU | peak RSS MB |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        for entry in "${PROFILES[@]}"; do
            read -r name _ <<<"$entry"
            per_core=$(awk -v r="${RPS[logins_$name]}" -v c="$CORES" 'BEGIN {printf "%.1f", r / c}')
            cpu_ms=$(awk -v us="${CPU_US[logins_$name]}" 'BEGIN {printf "%.1f", us / 1000}')
            by_cpu=$(awk -v us="${CPU_US[logins_$name]}" 'BEGIN {printf "%.1f", (us > 0) ? 1e6 / us : 0}')
            printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$name" \
                "${RPS[logins_$name]}" "$per_core" "$(ratio "$per_core" 15)" "$cpu_ms" "$by_cpu" \
                "${P50[logins_$name]}" "${P99[logins_$name]}" "${ERRS[logins_$name]}" \
                "${VERIFY_CPU[$name]}" "${HWM_MB[$name]}"
        done
    } >"$RESULTS"
    echo
    cat "$RESULTS"
    exit 0
fi

# --- set-up: a user with 10 items, through the binary and the API ---------------------
BENCH_USER=bench-$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')
BENCH_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
say "${FRESH:+creating a fresh database; }adding user $BENCH_USER"
printf '%s\n' "$BENCH_PASSWORD" |
    "$BIN" user add "$BENCH_USER" --scopes "read:items write:items" --password-stdin \
        >"$OUT/user-add.log" 2>&1 || die "could not add the bench user (see $OUT/user-add.log)"
# Ten users in all, as before (SQLite: by direct inserts).
[ -n "$FRESH" ] && "$HELPER" seed "$DB_URL" 10 >/dev/null

say "starting the nodes: info (the defaults) and warn (TOLLGATE_LOG=warn), one database"
start_node info
start_node warn TOLLGATE_LOG=warn
LOGIN_BODY="grant_type=password&username=$BENCH_USER&password=$BENCH_PASSWORD"
TOKEN=$(curl -fsS -d "$LOGIN_BODY" "${NODE_URL[info]}/token" | json_field access_token)
[ -n "$TOKEN" ] || die "could not log in as $BENCH_USER"
for i in $(seq 10); do
    curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        -d "{\"name\":\"item $i\",\"description\":\"an item of the benchmark\"}" "${NODE_URL[info]}/items"
done
curl -fsS -H "Authorization: Bearer $TOKEN" "${NODE_URL[info]}/users/me" >"$TMP/me.json"
start_node ceiling -- "$CEILING_BIN" "$TMP/me.json"
# On PostgreSQL a second ceiling: the same, plus one prepared primary-key
# query per request over a sqlx pool (every bearer check there is a query).
CEILINGS=(ceiling)
if [ -z "$SQLITE" ]; then
    start_node ceiling1q -- "$CEILING_BIN" "$TMP/me.json" --one-query
    CEILINGS+=(ceiling1q)
fi


# --- the comparison, in turns ---------------------------------------------------
# Each round measures every pair once, half the duration each, so that a change
# in the machine's other load hits all alike; the ratios are per round too.
# The second round runs in the reverse order of the first, so that a load that
# rises or falls steadily through the run favours no measurement.
ROUNDS=2
half=$(((DURATION + 1) / 2))
say "measuring in $ROUNDS rounds, $half s each (the second in reverse order)"
for node in info warn "${CEILINGS[@]}"; do
    measure "warmup_$node" "$node" "$CONNS" 1 /users/me BENCH_TOKEN="$TOKEN" 2>/dev/null
done
COMPARED=(healthz_info me_info me_warn me_ceiling items_info healthz_warn)
[ -z "$SQLITE" ] && COMPARED+=(me_ceiling1q)
# compared NAME ROUND: measures one of COMPARED.
compared() {
    local name=$1 round=$2
    case $name in
        healthz_info) measure "${name}_$round" info "$CONNS" "$half" /healthz ;;
        me_info) measure "${name}_$round" info "$CONNS" "$half" /users/me BENCH_TOKEN="$TOKEN" ;;
        me_warn) measure "${name}_$round" warn "$CONNS" "$half" /users/me BENCH_TOKEN="$TOKEN" ;;
        me_ceiling) measure "${name}_$round" ceiling "$CONNS" "$half" /users/me BENCH_TOKEN="$TOKEN" ;;
        me_ceiling1q) measure "${name}_$round" ceiling1q "$CONNS" "$half" /users/me BENCH_TOKEN="$TOKEN" ;;
        items_info) measure "${name}_$round" info "$CONNS" "$half" /items BENCH_TOKEN="$TOKEN" ;;
        healthz_warn) measure "${name}_$round" warn "$CONNS" "$half" /healthz ;;
    esac
}
for round in $(seq "$ROUNDS"); do
    if [ $((round % 2)) -eq 1 ]; then
        for name in "${COMPARED[@]}"; do compared "$name" "$round"; done
    else
        for ((i = ${#COMPARED[@]} - 1; i >= 0; i--)); do compared "${COMPARED[$i]}" "$round"; done
    fi
done
for name in "${COMPARED[@]}"; do
    combine "$name" $(for r in $(seq "$ROUNDS"); do echo "${name}_$r"; done)
done
# POST /items, one at a time: the median of 200 (a commit each); after the
# comparisons, whose GET /items reads a page of the 10 items made above.
ITEM_MS=()
for i in $(seq 200); do
    ITEM_MS+=("$(curl -fsS -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' -d "{\"name\":\"posted $i\"}" "${NODE_URL[info]}/items")")
done
POST_ITEMS_P50=$(printf '%s\n' "${ITEM_MS[@]}" | sort -n | awk '{v[NR]=$1} END {printf "%.2f", v[int((NR+1)/2)] * 1000}')
for node in "${CEILINGS[@]}"; do stop_node "$node"; done
stop_node warn

# --- signing algorithms ---------------------------------------------------------
# /users/me with RS256 (the default without a secret) and EdDSA beside HS256,
# in turns: each node on a fresh SQLite file of its own (two algorithms on one
# database would take turns retiring each other's keys), a token each.
say "signing algorithms: /users/me with HS256, RS256 and EdDSA, each on its own database"
SAVED_SECRET=$TOLLGATE_JWT_SECRET
for alg in HS256 RS256 EdDSA; do
    url="sqlite://$TMP/alg-$alg.db"
    if [ "$alg" = HS256 ]; then export TOLLGATE_JWT_SECRET=$SAVED_SECRET; else unset TOLLGATE_JWT_SECRET; fi
    printf '%s\n' "$BENCH_PASSWORD" | TOLLGATE_DATABASE_URL=$url TOLLGATE_JWT_ALG=$alg \
        "$BIN" user add "$BENCH_USER" --scopes "read:items" --password-stdin >>"$OUT/user-add.log" 2>&1 ||
        die "could not add the bench user for $alg (see $OUT/user-add.log)"
    start_node "alg_$alg" TOLLGATE_DATABASE_URL="$url" TOLLGATE_JWT_ALG="$alg"
    ALG_TOKEN[$alg]=$(curl -fsS -d "$LOGIN_BODY" "${NODE_URL[alg_$alg]}/token" | json_field access_token)
    [ -n "${ALG_TOKEN[$alg]}" ] || die "could not log in on the $alg node"
    measure "warmup_alg_$alg" "alg_$alg" "$CONNS" 1 /users/me BENCH_TOKEN="${ALG_TOKEN[$alg]}" 2>/dev/null
done
export TOLLGATE_JWT_SECRET=$SAVED_SECRET
for round in $(seq "$ROUNDS"); do
    for alg in HS256 RS256 EdDSA; do
        measure "me_alg_${alg}_$round" "alg_$alg" "$CONNS" "$half" /users/me BENCH_TOKEN="${ALG_TOKEN[$alg]}"
    done
done
for alg in HS256 RS256 EdDSA; do
    combine "me_alg_$alg" $(for r in $(seq "$ROUNDS"); do echo "me_alg_${alg}_$r"; done)
    stop_node "alg_$alg"
done

# --- logins, at the defaults ------------------------------------------------------
HASH=$("$HELPER" hash-cpu 3)
VERIFY_MS=$(echo "$HASH" | sed -n 's/.*cpu_ms=\([0-9.]*\).*/\1/p')
HASH_PROFILE=$(echo "$HASH" | sed -n 's/.*profile=//p')
CEILING=$(awk -v c="$CORES" -v ms="$VERIFY_MS" 'BEGIN {printf "%.2f", c / (ms / 1000)}')
say "one password verify ($HASH_PROFILE): $VERIFY_MS ms of CPU; ceiling $CEILING logins/s on $CORES cores"

measure token info "$LOGIN_CONNS" $((DURATION + 4)) /token BENCH_BODY="$LOGIN_BODY"
wait_idle info

# The storm runs 2 s longer than the /users/me measurement inside it, which is
# compared with the one just before it (the machine's other load drifts).
measure users_me_before_storm info "$CONNS" "$DURATION" /users/me BENCH_TOKEN="$TOKEN"
say "login storm ($CONNS concurrent logins) with /users/me alongside"
env BENCH_BODY="$LOGIN_BODY" "${PIN[@]}" wrk -t1 -c"$CONNS" -d"$((DURATION + 2))s" --timeout 60s \
    -s bench/wrk.lua "${NODE_URL[info]}/token" >"$OUT/storm_token.txt" 2>&1 &
STORM_PID=$!
sleep 1
measure storm_users_me info "$CONNS" "$DURATION" /users/me BENCH_TOKEN="$TOKEN"
wait "$STORM_PID" || { STORM_PID=; die "the storm's wrk failed (see $OUT/storm_token.txt)"; }
STORM_PID=
summarize storm_token
wait_idle info

# --- two nodes on one database ----------------------------------------------------
# A second node on the same database, both loaded at once (half the
# connections each), side by side with the one node alone just before.
say "two nodes on one database: /users/me on each at once"
start_node second
measure one_node info "$CONNS" "$DURATION" /users/me BENCH_TOKEN="$TOKEN"
env BENCH_TOKEN="$TOKEN" "${PIN[@]}" wrk -t1 -c"$((CONNS / 2))" -d"${DURATION}s" --timeout 60s \
    -s bench/wrk.lua "${NODE_URL[second]}/users/me" >"$OUT/two_second.txt" 2>&1 &
SECOND_PID=$!
measure two_first info "$((CONNS / 2))" "$DURATION" /users/me BENCH_TOKEN="$TOKEN"
wait "$SECOND_PID" || die "wrk failed for the second node (see $OUT/two_second.txt)"
summarize two_second
RPS[two_sum]=$(awk -v a="${RPS[two_first]}" -v b="${RPS[two_second]}" 'BEGIN {printf "%.1f", a + b}')
stop_node second

[ -n "$SQLITE" ] && "$HELPER" mint "$DB_URL" "$SIZE_TOKENS" "$OUT/tokens-small" 2>/dev/null
LOG_BYTES=$(stat -c %s "${NODE_LOG[info]}")
LOG_LINES=$(grep -c 'status=' "${NODE_LOG[info]}" || true)
stop_node info
DROPPED=$(sed -n 's/.*log lines dropped.*dropped=\([0-9]*\).*/\1/p' "${NODE_LOG[info]}" | tail -1)
DROPPED=${DROPPED:-0}
tail -n 3 "${NODE_LOG[info]}" >"$OUT/info-log-tail.log"

say "start-up on the existing database (median of 5)"
startups=()
for _ in 1 2 3 4 5; do
    start_node startup
    startups+=("$STARTUP_MS")
    stop_node startup
done
STARTUP_MEDIAN=$(printf '%s\n' "${startups[@]}" | sort -n | sed -n 3p)
say "start-up: $STARTUP_MEDIAN ms (runs: ${startups[*]})"

STARTUP_BIG_MS=
SIZE_RUN=
if [ "$USERS" -gt 0 ] && [ -n "$FRESH" ]; then
    SIZE_RUN=yes
    # Two nodes at once, one on a copy seeded to $USERS users, measured in
    # turns so that a change in the machine's load hits both alike.
    say "size: /users/me over the tokens of many users, 10 users vs $USERS users, in turns"
    for f in "$TMP"/bench.db*; do cp "$f" "$TMP/big${f#"$TMP"/bench}"; done
    BIG_URL="sqlite://$TMP/big.db"
    say "$("$HELPER" seed "$BIG_URL" "$USERS")"
    "$HELPER" mint "$BIG_URL" "$SIZE_TOKENS" "$OUT/tokens-big" 2>/dev/null
    start_node small
    start_node big TOLLGATE_DATABASE_URL="$BIG_URL"
    STARTUP_BIG_MS=$STARTUP_MS
    say "start-up with $USERS users: $STARTUP_BIG_MS ms"
    measure warmup_small small "$CONNS" 2 /users/me BENCH_TOKENS_FILE="$OUT/tokens-small" 2>/dev/null
    measure warmup_big big "$CONNS" 2 /users/me BENCH_TOKENS_FILE="$OUT/tokens-big" 2>/dev/null
    for round in 1 2 3 4; do
        measure "small_$round" small "$CONNS" "$half" /users/me BENCH_TOKENS_FILE="$OUT/tokens-small"
        measure "big_$round" big "$CONNS" "$half" /users/me BENCH_TOKENS_FILE="$OUT/tokens-big"
    done
    combine users_me_10 small_1 small_2 small_3 small_4
    combine users_me_big big_1 big_2 big_3 big_4
    stop_node small
    stop_node big
elif [ "$USERS" -gt 0 ]; then
    say "size comparison skipped: it copies a fresh SQLite database (not with --database)"
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the table ------------------------------------------------------------------
# Before the table is written: rewriting the tables is not a local change of the tree.
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- ':!bench/results.md' ':!bench/results-postgres.md' 2>/dev/null || commit="$commit with local changes"
R_CEIL=$(ratio "${RPS[me_info]}" "${RPS[me_ceiling]}")
R_WARN=$(ratio "${RPS[me_info]}" "${RPS[me_warn]}")
R_HEALTH=$(ratio "${RPS[me_info]}" "${RPS[healthz_info]}")
R_ITEMS=$(ratio "${RPS[items_info]}" "${RPS[me_info]}")
R_LOGIN=$(ratio "${RPS[token]}" "$CEILING")
R_STORM=$(ratio "${RPS[storm_users_me]}" "${RPS[users_me_before_storm]}")
R_STORM_LOGIN=$(ratio "${RPS[storm_token]}" "$CEILING")
PEAK_RSS_MB=$(awk -v k="$PEAK_RSS_KB" 'BEGIN {printf "%.1f", k / 1024}')
LOG_MB=$(awk -v b="$LOG_BYTES" 'BEGIN {printf "%.0f", b / 1048576}')
met() { if awk "BEGIN {exit !($1)}"; then echo met; else echo "**not met**"; fi; }

# row LABEL NAME: a measurement with its ratios to the ceiling and to /healthz (info).
row() {
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" "${RPS[$2]}" "${SPREAD[$2]:-}" \
        "${P50[$2]}" "${P99[$2]}" "${ERRS[$2]}" "${CPU_US[$2]}" \
        "$(ratio "${RPS[$2]}" "${RPS[me_ceiling]}")" "$(ratio "${RPS[$2]}" "${RPS[healthz_info]}")"
}
{
    echo "# Load benchmark: latest results"
    echo
    echo "Written by \`just bench\` (bench/run.sh); see bench/README.md for the method and the findings."
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $commit"
    echo "- machine: $CORES cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)); load average $LOAD_BEFORE before, $LOAD_AFTER after"
    echo "- load generator: $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), one thread pinned to core 0, $CONNS connections, $DURATION s per measurement ($ROUNDS rounds of $half s for the compared ones)"
    if [ -n "$FRESH" ]; then where="a fresh SQLite database in a temp dir"; else where="the database given (${DB_URL%%://*}://…)"; fi
    echo "- server: release build, default settings (log level info, text lines, standard error to a file), $where; the warn node differs only by TOLLGATE_LOG=warn${SECRET_NOTE:+; $SECRET_NOTE}"
    echo "- ceiling: examples/jwt_ceiling.rs, the same token verified by tollgate's \`Keys::verify\`, the same /users/me body from memory; no database, no log"
    echo
    echo "| measurement | requests/s | rounds | p50 ms | p99 ms | errors | server CPU µs/req | ÷ ceiling | ÷ /healthz |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    row "GET /users/me, JWT-only ceiling" me_ceiling
    [ -z "$SQLITE" ] && row "GET /users/me, ceiling with one query (examples/jwt_ceiling.rs --one-query)" me_ceiling1q
    row "GET /healthz (info)" healthz_info
    row "GET /healthz (warn)" healthz_warn
    row "**GET /users/me (info, the default)**" me_info
    row "GET /users/me (warn)" me_warn
    row "GET /items, page of 10 (info)" items_info
    row "GET /users/me just before the storm" users_me_before_storm
    row "GET /users/me during the storm" storm_users_me
    if [ -n "$SIZE_RUN" ]; then
        row "GET /users/me, 10 users (a token each; in turns with the next)" users_me_10
        row "GET /users/me, $USERS users (tokens of $SIZE_TOKENS random users)" users_me_big
    fi
    echo
    echo "| signing algorithm (each node on a fresh SQLite file) | requests/s | rounds | p99 ms | server CPU µs/req | ÷ HS256 |"
    echo "|---|---:|---:|---:|---:|---:|"
    for alg in HS256 RS256 EdDSA; do
        printf '| GET /users/me, %s | %s | %s | %s | %s | %s |\n' "$alg" "${RPS[me_alg_$alg]}" \
            "${SPREAD[me_alg_$alg]:-}" "${P99[me_alg_$alg]}" "${CPU_US[me_alg_$alg]}" \
            "$(ratio "${RPS[me_alg_$alg]}" "${RPS[me_alg_HS256]}")"
    done
    echo
    echo "| two nodes on one database (${DB_URL%%://*}) | requests/s | p99 ms | ÷ one node |"
    echo "|---|---:|---:|---:|"
    printf '| %s | %s | %s | %s |\n' "GET /users/me, one node alone" "${RPS[one_node]}" "${P99[one_node]}" "1.00"
    printf '| %s | %s | %s | %s |\n' "GET /users/me, node 1 of 2 (at once)" "${RPS[two_first]}" "${P99[two_first]}" "$(ratio "${RPS[two_first]}" "${RPS[one_node]}")"
    printf '| %s | %s | %s | %s |\n' "GET /users/me, node 2 of 2 (at once)" "${RPS[two_second]}" "${P99[two_second]}" "$(ratio "${RPS[two_second]}" "${RPS[one_node]}")"
    printf '| %s | %s | | %s |\n' "GET /users/me, both nodes together" "${RPS[two_sum]}" "$(ratio "${RPS[two_sum]}" "${RPS[one_node]}")"
    echo
    echo "Both nodes and the load generator share this machine's cores: the sum shows that the nodes work as one service on one database, not how they scale on machines of their own."
    echo
    echo "| logins | requests/s | p50 ms | p99 ms | errors |"
    echo "|---|---:|---:|---:|---:|"
    printf '| %s | %s | %s | %s | %s |\n' "POST /token, logins only ($LOGIN_CONNS connections)" \
        "${RPS[token]}" "${P50[token]}" "${P99[token]}" "${ERRS[token]}"
    printf '| %s | %s | %s | %s | %s |\n' "POST /token during the storm ($CONNS connections)" \
        "${RPS[storm_token]}" "${P50[storm_token]}" "${P99[storm_token]}" "${ERRS[storm_token]}"
    echo
    echo "- per round, /users/me (info) ÷ ceiling: $(round_ratios me_info me_ceiling "$ROUNDS"); ÷ warn: $(round_ratios me_info me_warn "$ROUNDS"); /items ÷ /users/me: $(round_ratios items_info me_info "$ROUNDS")"
    echo "- by server CPU per request, which other load inflates less than it cuts rates: /users/me (info) costs $(ratio "${CPU_US[me_info]}" "${CPU_US[me_ceiling]}") × the ceiling's, $(ratio "${CPU_US[me_info]}" "${CPU_US[me_warn]}") × its own at warn; /items costs $(ratio "${CPU_US[items_info]}" "${CPU_US[me_info]}") × /users/me"
    echo "- POST /items one at a time (a commit each): median $POST_ITEMS_P50 ms of 200"
    echo "- one password verify at the default ($HASH_PROFILE): $VERIFY_MS ms of CPU, so the ceiling is $CORES / $VERIFY_MS ms = **$CEILING logins/s** (\`just bench --logins\` compares the profiles)"
    echo "- the info node's log: $LOG_MB MB, $LOG_LINES request lines; lines dropped by its queue: $DROPPED"
    echo "- peak RSS of the server (VmHWM, highest of all its runs): $PEAK_RSS_MB MB"
    echo "- start-up on the existing database, until /healthz answers: $STARTUP_MEDIAN ms (median of 5: ${startups[*]})${STARTUP_BIG_MS:+; with $USERS users: $STARTUP_BIG_MS ms}"
    echo
    echo "| target | measured | |"
    echo "|---|---|---|"
    if [ -n "$SQLITE" ]; then
        echo "| /users/me (default config) ≥ 0.80 × JWT-only ceiling | $R_CEIL | $(met "$R_CEIL >= 0.80") |"
    else
        R_CEIL1Q=$(ratio "${RPS[me_info]}" "${RPS[me_ceiling1q]}")
        echo "| /users/me (default config) ≥ 0.80 × one-query ceiling | $R_CEIL1Q (per round: $(round_ratios me_info me_ceiling1q "$ROUNDS")) | $(met "$R_CEIL1Q >= 0.80") |"
        echo "| /users/me ÷ JWT-only ceiling (no target on PostgreSQL) | $R_CEIL | |"
        echo "| POST /items median < 2 ms | $POST_ITEMS_P50 ms | $(met "$POST_ITEMS_P50 < 2") |"
    fi
    R_RS=$(ratio "${RPS[me_alg_RS256]}" "${RPS[me_alg_HS256]}")
    echo "| /users/me RS256 ≥ 0.90 × HS256 | $R_RS | $(met "$R_RS >= 0.90") |"
    C_CEIL=$(ratio "${CPU_US[me_ceiling]}" "${CPU_US[me_info]}")
    C_WARN=$(ratio "${CPU_US[me_warn]}" "${CPU_US[me_info]}")
    [ -n "$SQLITE" ] && echo "| the same by CPU: ceiling's CPU per request ÷ /users/me's ≥ 0.80 | $C_CEIL | $(met "$C_CEIL >= 0.80") |"
    echo "| /users/me p99 < 5 ms (64 connections) | ${P99[me_info]} ms | $(met "${P99[me_info]} < 5") |"
    echo "| /users/me at info within 10% of warn | $R_WARN | $(met "$R_WARN >= 0.90") |"
    echo "| the same by CPU: warn's CPU per request ÷ info's ≥ 0.90 | $C_WARN | $(met "$C_WARN >= 0.90") |"
    echo "| /items (10) ≥ 0.6 × /users/me | $R_ITEMS | $(met "$R_ITEMS >= 0.6") |"
    echo "| /users/me ≥ 0.70 × /healthz | $R_HEALTH | $(met "$R_HEALTH >= 0.70") |"
    echo "| logins ≥ 0.90 × hash ceiling | $R_LOGIN | $(met "$R_LOGIN >= 0.90") |"
    echo "| storm: /users/me ≥ 0.40 × just before | $R_STORM | $(met "$R_STORM >= 0.40") |"
    echo "| storm: /users/me p99 < 20 ms | ${P99[storm_users_me]} ms | $(met "${P99[storm_users_me]} < 20") |"
    echo "| storm: logins ≥ 0.50 × hash ceiling | $R_STORM_LOGIN | $(met "$R_STORM_LOGIN >= 0.50") |"
    echo "| peak RSS < 50 MB | $PEAK_RSS_MB MB | $(met "$PEAK_RSS_MB < 50") |"
    echo "| start-up < 200 ms (existing database) | $STARTUP_MEDIAN ms | $(met "$STARTUP_MEDIAN < 200") |"
    if [ -n "$SIZE_RUN" ]; then
        R_SIZE=$(ratio "${RPS[users_me_big]}" "${RPS[users_me_10]}")
        echo "| /users/me with $USERS users ≥ 0.90 × with 10 | $R_SIZE | $(met "$R_SIZE >= 0.90") |"
    else
        echo "| /users/me flat from 10 to 100,000 users | not run (\`just bench --users 100000\`) | |"
    fi
} >"$RESULTS"

echo
cat "$RESULTS"
