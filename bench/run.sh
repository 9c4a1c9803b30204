#!/usr/bin/env bash
# Load benchmark of the release build over loopback (`just bench`); see
# bench/README.md for what it measures and why.
#
#   bench/run.sh [--users N] [--duration SECONDS] [--database URL]
#   bench/run.sh --logins [--duration SECONDS]
#   bench/run.sh --grants [--duration SECONDS] [--database postgres://...]
#   bench/run.sh --events [--duration SECONDS] [--rounds N]
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
#   --grants        only grants: client_credentials and refresh per second with
#                   RS256 and EdDSA on fresh SQLite files (and on fresh databases
#                   of a postgres:// --database), beside one core's signatures
#                   per second and serial commits per second of this same run.
#                   Writes bench/results-grants.md
#   --events        only the resource server example's GET /reports/{id} without
#                   and with the revocation event stream (bench/events.sh).
#                   Writes bench/results-events.md
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
GRANTS_ONLY=
while [ $# -gt 0 ]; do
    case "$1" in
        --users) USERS=$2; shift 2 ;;
        --users=*) USERS=${1#*=}; shift ;;
        --duration) DURATION=$2; shift 2 ;;
        --duration=*) DURATION=${1#*=}; shift ;;
        --database) DATABASE=$2; shift 2 ;;
        --database=*) DATABASE=${1#*=}; shift ;;
        --logins) LOGINS_ONLY=yes; shift ;;
        --grants) GRANTS_ONLY=yes; shift ;;
        --events) shift; exec ./bench/events.sh "$@" ;;
        -h|--help) sed -n '2,35p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

CONNS=64             # connections of every GET measurement and of the login storm
LOGIN_CONNS=16       # connections of the logins-only measurement
SIZE_TOKENS=1000     # distinct users whose tokens the size comparison rotates through
source bench/lib.sh

if [ -n "$LOGINS_ONLY" ]; then source bench/logins.sh; fi
if [ -n "$GRANTS_ONLY" ]; then source bench/grants.sh; fi

# --- the database -------------------------------------------------------------
# Only the temp dir is ever deleted: a database given with --database is left
# as it was, but for the bench user.
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
if [ -z "${TOLLGATE_JWT_SECRET:-}" ]; then
    # The HS256 figures (the targets are against the HS256 ceiling): one key
    # for the nodes and the ceiling alike. Without a secret the default
    # algorithm is RS256, with its key in the database.
    TOLLGATE_JWT_SECRET=$(head -c 36 /dev/urandom | base64 | tr -d '\n')
    export TOLLGATE_JWT_SECRET
    SECRET_NOTE="TOLLGATE_JWT_SECRET set by the script, so every server signs HS256 with one key"
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
