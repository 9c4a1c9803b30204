#!/usr/bin/env bash
# The cost of revocation events to a resource server: GET /reports/{id} of
# resource/examples/resource_server.rs (release build) without and with the
# event stream, in one run, in turns, beside a tollgate that has revoked
# 1,000 sessions (so the verifier's revoked set is not empty).
#
#   bench/events.sh [--duration SECONDS] [--rounds N]
#
# Builds the release example if missing; tollgate runs from target/release or
# target/debug (it only answers logins and event polls here; the measured
# server is the example). Writes bench/results-events.md; raw wrk output goes
# to bench/out/. Nothing is asserted: the table gives the ratio beside the
# target (at least 0.95).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${BENCH_DURATION:-5}
ROUNDS=3
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
CONNS=32
SESSIONS=1000
OUT=bench/out
RESULTS=bench/results-events.md
mkdir -p "$OUT"

command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
EXAMPLE=target/release/examples/resource_server
[ -x "$EXAMPLE" ] || cargo build --release -p tollgate-resource --example resource_server
TOLLGATE=target/release/tollgate
[ -x "$TOLLGATE" ] || TOLLGATE=target/debug/tollgate
[ -x "$TOLLGATE" ] || cargo build --bin tollgate

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-bench-events.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
wait_for() { # URL [HEADER]
    for _ in $(seq 1 200); do
        if [ "$(curl -s -o /dev/null -w '%{http_code}' ${2:+-H "$2"} "$1")" = 200 ]; then return 0; fi
        sleep 0.1
    done
    echo "no 200 from $1" >&2
    exit 1
}

# --- tollgate -------------------------------------------------------------------
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
TOLLGATE_DATABASE_URL="sqlite://$TMP/tollgate.db" TOLLGATE_BIND=127.0.0.1:$PORT \
    TOLLGATE_PASSWORD_HASH=bcrypt TOLLGATE_BCRYPT_COST=4 TOLLGATE_LOG=warn \
    TOLLGATE_THROTTLE_ADDR_LIMIT=1000000 \
    "$TOLLGATE" serve >/dev/null 2>"$TMP/tollgate.log" &
PIDS+=($!)
wait_for "$BASE/readyz"
ADMIN_PASSWORD=$(sed 's/\x1b\[[0-9;]*m//g' "$TMP/tollgate.log" | grep -oE 'initial admin password: [^ ]+' | cut -d' ' -f4)
token() { # USER PASSWORD SCOPE
    curl -fsS "$BASE/token" --data-urlencode username="$1" --data-urlencode password="$2" \
        --data-urlencode scope="$3" | json access_token
}
ADMIN=$(token admin "$ADMIN_PASSWORD" admin)
for user in bench-events:events bench-churn:read:items; do
    curl -fsS "$BASE/users" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
        -d "{\"username\": \"${user%%:*}\", \"password\": \"bench-password-1\", \"scopes\": [\"${user#*:}\"]}" >/dev/null
done
EVENTS_TOKEN=$(token bench-events bench-password-1 events)
READER=$(token admin "$ADMIN_PASSWORD" read:items)

# --- the two resource servers ---------------------------------------------------
start_resource() { # PORT NAME [EVENTS_TOKEN]
    TOLLGATE_URL=$BASE RESOURCE_BIND=127.0.0.1:$1 RESOURCE_EVENTS_TOKEN=${3:-} RUST_LOG=warn \
        "$EXAMPLE" >/dev/null 2>"$TMP/$2.log" &
    PIDS+=($!)
}
PLAIN=$(free_port)
EVENTS=$(free_port)
start_resource "$PLAIN" plain
PLAIN_PID=$!
start_resource "$EVENTS" events "$EVENTS_TOKEN"
EVENTS_PID=$!
wait_for "http://127.0.0.1:$PLAIN/reports/7" "Authorization: Bearer $READER"
wait_for "http://127.0.0.1:$EVENTS/reports/7" "Authorization: Bearer $READER"

# --- 1,000 revoked sessions, delivered to the second ------------------------------
seq 1 "$SESSIONS" | xargs -P 4 -I{} curl -fsS -o /dev/null "$BASE/token" \
    --data-urlencode username=bench-churn --data-urlencode password=bench-password-1
CHURN=$(token bench-churn bench-password-1 read:items)
curl -fsS -X POST "$BASE/users/me/logout-all" -H "Authorization: Bearer $CHURN"
# The events server refuses the churn token once the events are in.
for _ in $(seq 1 100); do
    status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $CHURN" \
        "http://127.0.0.1:$EVENTS/reports/7")
    [ "$status" = 401 ] && break
    sleep 0.1
done
[ "$status" = 401 ] || { echo "the events server never refused the revoked token" >&2; exit 1; }

# --- measurements, in turns -------------------------------------------------------
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rate() { # NAME PORT PID ROUND: requests/s, and server CPU microseconds per request
    local out="$OUT/events-$1-$4.txt" before after requests
    before=$(cpu_ticks "$3")
    wrk -t2 -c"$CONNS" -d"${DURATION}s" -H "Authorization: Bearer $READER" \
        "http://127.0.0.1:$2/reports/7" >"$out"
    after=$(cpu_ticks "$3")
    requests=$(grep -E 'requests in' "$out" | awk '{print $1}')
    echo "$(grep -E '^Requests/sec' "$out" | awk '{print $2}') \
        $(python3 -c "print(f'{($after - $before) * 1e6 / $(getconf CLK_TCK) / $requests:.1f}')")"
}
for name in plain events; do
    port=$PLAIN
    [ "$name" = events ] && port=$EVENTS
    wrk -t2 -c"$CONNS" -d2s -H "Authorization: Bearer $READER" "http://127.0.0.1:$port/reports/7" >/dev/null
done
PLAIN_RATES=() EVENTS_RATES=() PLAIN_CPU=() EVENTS_CPU=()
for round in $(seq 1 "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then order="plain events"; else order="events plain"; fi
    for name in $order; do
        if [ "$name" = plain ]; then
            read -r r c < <(rate plain "$PLAIN" "$PLAIN_PID" "$round")
            PLAIN_RATES+=("$r") PLAIN_CPU+=("$c")
        else
            read -r r c < <(rate events "$EVENTS" "$EVENTS_PID" "$round")
            EVENTS_RATES+=("$r") EVENTS_CPU+=("$c")
        fi
    done
done
errors=$(grep -h 'Non-2xx' "$OUT"/events-*.txt || true)

sum() { python3 -c 'import sys; print(round(sum(float(x) for x in sys.argv[1:])))' "$@"; }
P=$(sum "${PLAIN_RATES[@]}")
E=$(sum "${EVENTS_RATES[@]}")
RATIO=$(python3 -c "print(f'{$E / $P:.3f}')")
median() { python3 -c 'import statistics,sys; print(f"{statistics.median(float(x) for x in sys.argv[1:]):.1f}")' "$@"; }
PC=$(median "${PLAIN_CPU[@]}")
EC=$(median "${EVENTS_CPU[@]}")
MET=$(python3 -c "print('met' if $E / $P >= 0.95 else 'NOT met')")
{
    echo "# Resource server with and without revocation events"
    echo
    echo "Written by \`bench/events.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores,"
    echo "load average $(cut -d' ' -f1-3 /proc/loadavg). \`GET /reports/7\` of"
    echo "\`resource/examples/resource_server.rs\` (release), wrk -t2 -c$CONNS, $ROUNDS rounds of"
    echo "${DURATION} s per server in alternating order; the events server holds $SESSIONS revoked"
    echo "sessions and keeps a long poll open to tollgate ($(basename "$(dirname "$TOLLGATE")") build)."
    echo
    echo "| server | requests/s per round | total | server CPU µs/request per round | median |"
    echo "|---|---|---|---|---|"
    echo "| without events | ${PLAIN_RATES[*]} | $P | ${PLAIN_CPU[*]} | $PC |"
    echo "| with events | ${EVENTS_RATES[*]} | $E | ${EVENTS_CPU[*]} | $EC |"
    echo
    echo "Rate ratio with/without: **$RATIO** (target at least 0.95: $MET). On a shared"
    echo "machine the rate follows the CPU share each server gets; CPU per request is the"
    echo "steadier comparison."
    [ -z "$errors" ] || { echo; echo "Non-2xx answers: $errors"; }
} >"$RESULTS"
cat "$RESULTS"
