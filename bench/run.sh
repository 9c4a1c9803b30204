#!/usr/bin/env bash
# Load benchmark of the release build over loopback (`just bench`); see
# bench/README.md for what it measures and why.
#
#   bench/run.sh [--users N] [--duration SECONDS]
#
#   --users N       also seed N users by direct inserts and compare GET /users/me
#                   with 10 users against N users (env BENCH_USERS; 0 skips it)
#   --duration S    seconds per measurement (env BENCH_DURATION, default 8)
#
# Every ratio it prints compares two measurements of this same run, so it holds
# up better on a busy machine than the absolute numbers do. Nothing here is
# asserted: the table says which targets were met. Writes bench/results.md;
# raw output goes to bench/out/.
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${BENCH_USERS:-0}
DURATION=${BENCH_DURATION:-8}
while [ $# -gt 0 ]; do
    case "$1" in
        --users) USERS=$2; shift 2 ;;
        --users=*) USERS=${1#*=}; shift ;;
        --duration) DURATION=$2; shift 2 ;;
        --duration=*) DURATION=${1#*=}; shift ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

CONNS=64             # connections of every GET measurement and of the login storm
LOGIN_CONNS=16       # connections of the logins-only measurement
COST=12              # the default bcrypt cost, as served
SIZE_TOKENS=1000     # distinct users whose tokens the size comparison rotates through
CORES=$(nproc)
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
# wrk runs on core 0; the server may use every core (on 2 cores it shares core 0).
if command -v taskset >/dev/null; then PIN=(taskset -c 0); else PIN=(); fi

# --- build --------------------------------------------------------------------
say "building the release binary and the benchmark helper"
cargo build --release --quiet --bin tollgate --example bench_helper
BIN=target/release/tollgate
HELPER=target/release/examples/bench_helper

# --- the server -----------------------------------------------------------------
TMP=$(mktemp -d)
SERVERS=()
cleanup() {
    local pid
    for pid in "${SERVERS[@]}" ${STORM_PID:-}; do kill "$pid" 2>/dev/null || true; done
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
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
export TOLLGATE_BIND="127.0.0.1:$PORT"
export TOLLGATE_DATABASE_URL="sqlite://$TMP/bench.db"
export TOLLGATE_BCRYPT_COST=$COST
# Per-request log lines off (they cost a write per request; see bench/README.md).
export TOLLGATE_LOG=warn
unset TOLLGATE_JWT_SECRET

PEAK_RSS_KB=0
# start_server [BIND DATABASE_URL]: sets SERVER_PID and STARTUP_MS, the time
# from the start until /healthz answers.
start_server() {
    local bind=${1:-$TOLLGATE_BIND} url=${2:-$TOLLGATE_DATABASE_URL} line
    line=$(TOLLGATE_BIND=$bind TOLLGATE_DATABASE_URL=$url "$HELPER" start "$bind" "$OUT/server.log" -- "$BIN") ||
        die "server did not start (see $OUT/server.log)"
    SERVER_PID=${line% *}
    STARTUP_MS=${line#* }
    SERVERS+=("$SERVER_PID")
}
# stop_server [PID]: stops it gracefully, keeping the highest VmHWM seen.
stop_server() {
    local pid=${1:-$SERVER_PID} hwm
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    grep -E '^(VmHWM|VmRSS|RssAnon|RssFile):' "/proc/$pid/status" | tr -s ' \t' ' ' |
        paste -sd' ' >>"$OUT/rss.txt" || true
    [ "${hwm:-0}" -gt "$PEAK_RSS_KB" ] && PEAK_RSS_KB=$hwm
    kill -TERM "$pid"
    # Not our child (the helper started it): poll until it is gone or a zombie.
    while grep -qs '^State:[[:space:]]*[^Z]' "/proc/$pid/status"; do sleep 0.02; done
    local running=() other
    for other in "${SERVERS[@]}"; do [ "$other" = "$pid" ] || running+=("$other"); done
    SERVERS=("${running[@]}")
}

# --- measuring ------------------------------------------------------------------
declare -A RPS P50 P99 ERRS
# measure NAME CONNS SECONDS PATH [VAR=VALUE...]: one wrk run, env for bench/wrk.lua;
# against $TARGET if set, else $URL.
measure() {
    local name=$1 conns=$2 secs=$3 path=$4
    shift 4
    env "$@" "${PIN[@]}" wrk -t1 -c"$conns" -d"${secs}s" --timeout 60s -s bench/wrk.lua "${TARGET:-$URL}$path" \
        >"$OUT/$name.txt" 2>&1 || die "wrk failed for $name (see $OUT/$name.txt)"
    summarize "$name"
}
# summarize NAME: reads the RESULT line of $OUT/NAME.txt into RPS, P50, P99, ERRS.
summarize() {
    local name=$1 line kv requests=0 duration_us=1 p50_us=0 p99_us=0
    local status_errors=0 timeouts=0 socket_errors=0
    line=$(grep '^RESULT ' "$OUT/$name.txt") || die "no result for $name (see $OUT/$name.txt)"
    for kv in ${line#RESULT }; do local "$kv"; done
    RPS[$name]=$(awk -v r="$requests" -v d="$duration_us" 'BEGIN {printf "%.1f", r / (d / 1e6)}')
    P50[$name]=$(awk -v v="$p50_us" 'BEGIN {printf "%.2f", v / 1000}')
    P99[$name]=$(awk -v v="$p99_us" 'BEGIN {printf "%.2f", v / 1000}')
    ERRS[$name]=$((status_errors + timeouts + socket_errors))
    say "$(printf '%-16s %10s req/s  p50 %7s ms  p99 %7s ms  errors %s' "$name" "${RPS[$name]}" "${P50[$name]}" "${P99[$name]}" "${ERRS[$name]}")"
}
# The server goes on with a request whose client has gone (a login keeps its
# bcrypt): wait until it has used under 5% of a core for half a second.
wait_idle() {
    local before after waited=0
    for _ in $(seq 120); do
        before=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
        sleep 0.5
        after=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
        [ $((after - before)) -le 2 ] && break
        waited=$((waited + 1))
    done
    [ "$waited" -gt 0 ] && say "waited $((waited / 2)).$((waited % 2 * 5)) s for the server to finish abandoned requests"
    return 0
}
# combine NAME ROUND...: NAME gets the mean rate and p50 of the rounds, their worst p99.
combine() {
    local name=$1 round
    shift
    RPS[$name]=$(for round; do echo "${RPS[$round]}"; done | awk '{s += $1} END {printf "%.1f", s / NR}')
    P50[$name]=$(for round; do echo "${P50[$round]}"; done | awk '{s += $1} END {printf "%.2f", s / NR}')
    P99[$name]=$(for round; do echo "${P99[$round]}"; done | sort -n | tail -1)
    ERRS[$name]=$(for round; do echo "${ERRS[$round]}"; done | awk '{s += $1} END {print s}')
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", (b > 0) ? a / b : 0}'; }

json_field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
say "load average before: $LOAD_BEFORE (on $CORES cores; a busy machine lowers every number)"

say "starting the server on a fresh database"
start_server
for _ in $(seq 100); do
    PASSWORD=$(sed 's/\x1b\[[0-9;]*m//g' "$OUT/server.log" | sed -n 's/.*initial admin password: \([^ ]*\).*/\1/p' | tail -1)
    [ -n "$PASSWORD" ] && break
    sleep 0.05
done
[ -n "$PASSWORD" ] || die "no initial admin password in $OUT/server.log"
"$HELPER" seed "$TOLLGATE_DATABASE_URL" 10 >/dev/null
LOGIN_BODY="grant_type=password&username=admin&password=$PASSWORD"
TOKEN=$(curl -fsS -d "$LOGIN_BODY" "$URL/token" | json_field access_token)
[ -n "$TOKEN" ] || die "could not log in as admin"
for i in $(seq 10); do
    curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        -d "{\"name\":\"item $i\",\"description\":\"an item of the benchmark\"}" "$URL/items"
done

say "measuring, $DURATION s each"
measure warmup "$CONNS" 2 /users/me BENCH_TOKEN="$TOKEN" 2>/dev/null
# In turns, half the time each, so that a change in the machine's load hits both.
half=$(((DURATION + 1) / 2))
for round in 1 2; do
    measure "healthz_$round" "$CONNS" "$half" /healthz
    measure "users_me_$round" "$CONNS" "$half" /users/me BENCH_TOKEN="$TOKEN"
done
combine healthz healthz_1 healthz_2
combine users_me users_me_1 users_me_2
measure items "$CONNS" "$DURATION" /items BENCH_TOKEN="$TOKEN"

BCRYPT=$("$HELPER" bcrypt-cpu "$COST" 3)
VERIFY_MS=$(echo "$BCRYPT" | sed -n 's/.*cpu_ms=\([0-9.]*\).*/\1/p')
CEILING=$(awk -v c="$CORES" -v ms="$VERIFY_MS" 'BEGIN {printf "%.2f", c / (ms / 1000)}')
say "one bcrypt verify at cost $COST: $VERIFY_MS ms of CPU; ceiling $CEILING logins/s on $CORES cores"

measure token "$LOGIN_CONNS" $((DURATION + 4)) /token BENCH_BODY="$LOGIN_BODY"
wait_idle

# The storm runs 2 s longer than the /users/me measurement inside it, which is
# compared with the one just before it (the machine's other load drifts).
measure users_me_before_storm "$CONNS" "$DURATION" /users/me BENCH_TOKEN="$TOKEN"
say "login storm ($CONNS concurrent logins) with /users/me alongside"
env BENCH_BODY="$LOGIN_BODY" "${PIN[@]}" wrk -t1 -c"$CONNS" -d"$((DURATION + 2))s" --timeout 60s \
    -s bench/wrk.lua "$URL/token" >"$OUT/storm_token.txt" 2>&1 &
STORM_PID=$!
sleep 1
measure storm_users_me "$CONNS" "$DURATION" /users/me BENCH_TOKEN="$TOKEN"
wait "$STORM_PID" || { STORM_PID=; die "the storm's wrk failed (see $OUT/storm_token.txt)"; }
STORM_PID=
summarize storm_token
wait_idle

"$HELPER" mint "$TOLLGATE_DATABASE_URL" "$SIZE_TOKENS" "$OUT/tokens-small" 2>/dev/null
stop_server

say "start-up on the existing database (median of 5)"
startups=()
for _ in 1 2 3 4 5; do
    start_server
    startups+=("$STARTUP_MS")
    stop_server
done
STARTUP_MEDIAN=$(printf '%s\n' "${startups[@]}" | sort -n | sed -n 3p)
say "start-up: $STARTUP_MEDIAN ms (runs: ${startups[*]})"

STARTUP_BIG_MS=
if [ "$USERS" -gt 0 ]; then
    # Two servers at once, one on a copy seeded to $USERS users, measured in
    # turns so that a change in the machine's load hits both alike.
    say "size: /users/me over the tokens of many users, 10 users vs $USERS users, in turns"
    for f in "$TMP"/bench.db*; do cp "$f" "$TMP/big${f#"$TMP"/bench}"; done
    BIG_URL="sqlite://$TMP/big.db"
    say "$("$HELPER" seed "$BIG_URL" "$USERS")"
    "$HELPER" mint "$BIG_URL" "$SIZE_TOKENS" "$OUT/tokens-big" 2>/dev/null
    start_server
    SMALL_PID=$SERVER_PID
    BIG_PORT=$(free_port)
    start_server "127.0.0.1:$BIG_PORT" "$BIG_URL"
    BIG_PID=$SERVER_PID
    STARTUP_BIG_MS=$STARTUP_MS
    say "start-up with $USERS users: $STARTUP_BIG_MS ms"
    BIG_TARGET="http://127.0.0.1:$BIG_PORT"
    measure warmup_small "$CONNS" 2 /users/me BENCH_TOKENS_FILE="$OUT/tokens-small" 2>/dev/null
    TARGET=$BIG_TARGET measure warmup_big "$CONNS" 2 /users/me BENCH_TOKENS_FILE="$OUT/tokens-big" 2>/dev/null
    for round in 1 2 3 4; do
        measure "small_$round" "$CONNS" "$half" /users/me BENCH_TOKENS_FILE="$OUT/tokens-small"
        TARGET=$BIG_TARGET measure "big_$round" "$CONNS" "$half" /users/me BENCH_TOKENS_FILE="$OUT/tokens-big"
    done
    combine users_me_10 small_1 small_2 small_3 small_4
    combine users_me_big big_1 big_2 big_3 big_4
    stop_server "$SMALL_PID"
    stop_server "$BIG_PID"
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the table ------------------------------------------------------------------
R_ME=$(ratio "${RPS[users_me]}" "${RPS[healthz]}")
R_LOGIN=$(ratio "${RPS[token]}" "$CEILING")
R_STORM=$(ratio "${RPS[storm_users_me]}" "${RPS[users_me_before_storm]}")
R_STORM_LOGIN=$(ratio "${RPS[storm_token]}" "$CEILING")
PEAK_RSS_MB=$(awk -v k="$PEAK_RSS_KB" 'BEGIN {printf "%.1f", k / 1024}')
met() { if awk "BEGIN {exit !($1)}"; then echo met; else echo "**not met**"; fi; }

row() { printf '| %s | %s | %s | %s | %s |\n' "$1" "${RPS[$2]}" "${P50[$2]}" "${P99[$2]}" "${ERRS[$2]}"; }
{
    echo "# Load benchmark: latest results"
    echo
    echo "Written by \`just bench\` (bench/run.sh); see bench/README.md for the method and the findings."
    echo
    commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    git diff --quiet HEAD -- 2>/dev/null || commit="$commit with local changes"
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $commit"
    echo "- machine: $CORES cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)); load average $LOAD_BEFORE before, $LOAD_AFTER after"
    echo "- load generator: $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), one thread pinned to core 0, $CONNS connections, $DURATION s per measurement"
    echo "- server: release build, fresh SQLite database in a temp dir, bcrypt cost $COST, log level warn"
    echo
    echo "| measurement | requests/s | p50 ms | p99 ms | errors |"
    echo "|---|---:|---:|---:|---:|"
    row "GET /healthz (the in-run ceiling)" healthz
    row "GET /users/me" users_me
    row "GET /items (10 items)" items
    row "POST /token, logins only ($LOGIN_CONNS connections)" token
    row "POST /token during the storm ($CONNS connections)" storm_token
    row "GET /users/me just before the storm" users_me_before_storm
    row "GET /users/me during the storm" storm_users_me
    if [ "$USERS" -gt 0 ]; then
        row "GET /users/me, 10 users (a token each; in turns with the next)" users_me_10
        row "GET /users/me, $USERS users (tokens of $SIZE_TOKENS random users)" users_me_big
    fi
    echo
    echo "- one bcrypt verify at cost $COST: $VERIFY_MS ms of CPU, so the ceiling is $CORES / $VERIFY_MS ms = **$CEILING logins/s**"
    echo "- peak RSS of the server (VmHWM, highest of all its runs): $PEAK_RSS_MB MB"
    echo "- start-up on the existing database, until /healthz answers: $STARTUP_MEDIAN ms (median of 5: ${startups[*]})${STARTUP_BIG_MS:+; with $USERS users: $STARTUP_BIG_MS ms}"
    echo
    echo "| target | measured | |"
    echo "|---|---|---|"
    echo "| /users/me ≥ 0.70 × /healthz | $R_ME | $(met "$R_ME >= 0.70") |"
    echo "| /users/me p99 < 5 ms | ${P99[users_me]} ms | $(met "${P99[users_me]} < 5") |"
    echo "| logins ≥ 0.90 × ceiling | $R_LOGIN | $(met "$R_LOGIN >= 0.90") |"
    echo "| storm: /users/me ≥ 0.40 × just before | $R_STORM | $(met "$R_STORM >= 0.40") |"
    echo "| storm: /users/me p99 < 20 ms | ${P99[storm_users_me]} ms | $(met "${P99[storm_users_me]} < 20") |"
    echo "| storm: logins ≥ 0.50 × ceiling | $R_STORM_LOGIN | $(met "$R_STORM_LOGIN >= 0.50") |"
    echo "| peak RSS < 50 MB | $PEAK_RSS_MB MB | $(met "$PEAK_RSS_MB < 50") |"
    echo "| start-up < 200 ms | $STARTUP_MEDIAN ms | $(met "$STARTUP_MEDIAN < 200") |"
    if [ "$USERS" -gt 0 ]; then
        R_SIZE=$(ratio "${RPS[users_me_big]}" "${RPS[users_me_10]}")
        echo "| /users/me with $USERS users ≥ 0.90 × with 10 | $R_SIZE | $(met "$R_SIZE >= 0.90") |"
    else
        echo "| /users/me flat from 10 to 100,000 users | not run (\`just bench --users 100000\`) | |"
    fi
} >"$RESULTS"

echo
cat "$RESULTS"
