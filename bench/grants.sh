# `just bench --grants`: client_credentials and refresh grants per second,
# with RS256 (the default) and EdDSA, on SQLite (a fresh file per algorithm)
# and, with `--database postgres://...`, on PostgreSQL (a fresh database per
# algorithm on that server, dropped at the end), each beside the limits of
# this same run: one core's signatures per second with that algorithm, and
# (for refresh, which commits) serial durable commits per second on that
# engine. Sourced by bench/run.sh after bench/lib.sh; writes
# bench/results-grants.md.

RESULTS=bench/results-grants.md
CC_CONNS=16       # connections of the client_credentials measurement
REFRESH_CONNS=8   # refresh chains, each on a connection (and wrk thread) of its own
ROUNDS=2
half=$(((DURATION + 1) / 2))
ALGS=(RS256 EdDSA)
ENGINES=(sqlite)
case "$DATABASE" in
    postgres*) ENGINES+=(postgres) ;;
    "") ;;
    *) die "--grants takes a postgres:// --database (SQLite always runs on fresh files)" ;;
esac
unset TOLLGATE_JWT_SECRET TOLLGATE_DATABASE_URL
BENCH_USER=bench-$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')
BENCH_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
LOGIN_BODY="grant_type=password&username=$BENCH_USER&password=$BENCH_PASSWORD"
CLIENT=bench-m2m
declare -A SECRET_OF SIGN_LIMIT COMMIT_LIMIT GRANT_DBS FSYNC

# One database per engine and algorithm, with the bench user and a
# client_credentials client in it.
for engine in "${ENGINES[@]}"; do
    for alg in "${ALGS[@]}"; do
        node="${engine}_$alg"
        if [ "$engine" = sqlite ]; then
            url="sqlite://$TMP/grants-$alg.db"
        else
            url=$("$HELPER" fresh-db "$DATABASE" "tollgate_bench_${alg,,}_$$") ||
                die "could not create a database for $node"
            GRANT_DBS[$node]=$url
        fi
        printf '%s\n' "$BENCH_PASSWORD" | TOLLGATE_DATABASE_URL=$url TOLLGATE_JWT_ALG=$alg \
            "$BIN" user add "$BENCH_USER" --scopes "read:items" --password-stdin >>"$OUT/user-add.log" 2>&1 ||
            die "could not add the bench user for $node (see $OUT/user-add.log)"
        SECRET_OF[$node]=$(TOLLGATE_DATABASE_URL=$url TOLLGATE_JWT_ALG=$alg "$BIN" client add "$CLIENT" \
            --grants client_credentials --scopes "read:items" 2>>"$OUT/client-add.log" | tail -n 1)
        [ -n "${SECRET_OF[$node]}" ] || die "could not add the bench client for $node (see $OUT/client-add.log)"
        start_node "$node" TOLLGATE_DATABASE_URL="$url" TOLLGATE_JWT_ALG="$alg"
    done
    line=$("$HELPER" commit-rate "$url" 2) || die "could not measure commits on $engine"
    COMMIT_LIMIT[$engine]=$(echo "$line" | sed -n 's/.*commits_per_s=\([0-9.]*\).*/\1/p')
    # PostgreSQL says whether it syncs at all (the test server of scripts/pg.sh does not).
    FSYNC[$engine]=$(echo "$line" | sed -n 's/.*fsync=\([a-z]*\).*/\1/p')
    say "$engine: ${COMMIT_LIMIT[$engine]} serial durable commits/s"
done
for alg in "${ALGS[@]}"; do
    SIGN_LIMIT[$alg]=$("$HELPER" sign-rate "$alg" 2 | sed -n 's/.*signs_per_cpu_s=\([0-9.]*\).*/\1/p')
    say "$alg: ${SIGN_LIMIT[$alg]} access tokens signed per core-second"
done

# refresh_tokens NODE FILE: REFRESH_CONNS fresh logins, a refresh token a line.
refresh_tokens() {
    local node=$1 file=$2
    : >"$file"
    for _ in $(seq "$REFRESH_CONNS"); do
        curl -sS -d "$LOGIN_BODY" "${NODE_URL[$node]}/token" >"$file.answer" || true
        # The answer has no final newline, nor then has sed's output.
        printf '%s\n' "$(json_field refresh_token <"$file.answer")" >>"$file"
    done
    [ "$(grep -c . "$file")" -eq "$REFRESH_CONNS" ] ||
        die "could not log in on $node: $(head -c 300 "$file.answer")"
}
# grant KIND NODE NAME SECONDS: one measurement of client_credentials or refresh grants.
grant() {
    local kind=$1 node=$2 name=$3 secs=$4 basic
    if [ "$kind" = cc ]; then
        basic=$(printf '%s:%s' "$CLIENT" "${SECRET_OF[$node]}" | base64 -w0)
        measure "$name" "$node" "$CC_CONNS" "$secs" /token \
            BENCH_BODY="grant_type=client_credentials" BENCH_BASIC="$basic"
    else
        refresh_tokens "$node" "$TMP/refresh-$name"
        WRK_THREADS=$REFRESH_CONNS measure "$name" "$node" "$REFRESH_CONNS" "$secs" /token \
            BENCH_REFRESH_FILE="$TMP/refresh-$name"
    fi
    wait_idle "$node"
}

say "grants: ${ENGINES[*]} x ${ALGS[*]}, $ROUNDS rounds of $half s (the second in reverse order)"
MEASURED=()
for engine in "${ENGINES[@]}"; do
    for alg in "${ALGS[@]}"; do
        for kind in cc refresh; do MEASURED+=("$kind ${engine}_$alg"); done
    done
done
for entry in "${MEASURED[@]}"; do
    read -r kind node <<<"$entry"
    grant "$kind" "$node" "warmup_${kind}_$node" 1
done
for round in $(seq "$ROUNDS"); do
    if [ $((round % 2)) -eq 1 ]; then order=("${MEASURED[@]}"); else
        order=(); for ((i = ${#MEASURED[@]} - 1; i >= 0; i--)); do order+=("${MEASURED[$i]}"); done
    fi
    for entry in "${order[@]}"; do
        read -r kind node <<<"$entry"
        grant "$kind" "$node" "${kind}_${node}_$round" "$half"
    done
done
for entry in "${MEASURED[@]}"; do
    read -r kind node <<<"$entry"
    combine "${kind}_$node" $(for r in $(seq "$ROUNDS"); do echo "${kind}_${node}_$r"; done)
done
for engine in "${ENGINES[@]}"; do
    for alg in "${ALGS[@]}"; do stop_node "${engine}_$alg"; done
done
for node in "${!GRANT_DBS[@]}"; do "$HELPER" drop-db "$DATABASE" "${GRANT_DBS[$node]}" || true; done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# Per core used: grants per second of the server's CPU time (1 s ÷ CPU per grant).
per_core_used() { awk -v us="${CPU_US[$1]}" 'BEGIN {printf "%.0f", (us > 0) ? 1e6 / us : 0}'; }
per_machine_core() { awk -v r="${RPS[$1]}" -v c="$CORES" 'BEGIN {printf "%.0f", r / c}'; }
met() { if awk "BEGIN {exit !($1)}"; then echo met; else echo "**not met**"; fi; }
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- ':!bench/results-grants.md' 2>/dev/null || commit="$commit with local changes"
{
    echo "# Grants per second beside the limits of signing and durability"
    echo
    echo "Written by \`just bench --grants\` (bench/grants.sh); see bench/README.md for the method."
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $commit"
    echo "- machine: $CORES cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)); load average $LOAD_BEFORE before, $LOAD_AFTER after"
    echo "- server: release build, default settings but the algorithm, one node per engine and algorithm, each on a fresh database; wrk pinned to core 0"
    echo "- client_credentials: $CC_CONNS connections, HTTP Basic (client_secret_basic); refresh: $REFRESH_CONNS chains, each presenting the refresh token its last answer returned (every grant rotates, so a commit each)"
    echo "- per core used: 1 s ÷ the server's CPU time per grant (utime + stime over the measurement); per machine core: grants/s ÷ $CORES"
    echo "- signing limit: access tokens one thread signs per second of its CPU time, with tollgate's own signer and a fresh key, a client_credentials token's claims; commit limit: serial single-row commits per second on one connection, with the server's durability settings"
    echo
    echo "| limit | per second |"
    echo "|---|---:|"
    for alg in "${ALGS[@]}"; do echo "| signatures, $alg, one core | ${SIGN_LIMIT[$alg]} |"; done
    for engine in "${ENGINES[@]}"; do
        echo "| durable commits, $engine, one connection${FSYNC[$engine]:+ (server fsync=${FSYNC[$engine]})} | ${COMMIT_LIMIT[$engine]} |"
    done
    echo
    echo "| grant | engine | alg | grants/s | rounds | p50 ms | p99 ms | errors | CPU µs/grant | per core used | ÷ signing limit | per machine core | ÷ Keycloak's 120 | ÷ commit limit |"
    echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for entry in "${MEASURED[@]}"; do
        read -r kind node <<<"$entry"
        engine=${node%_*} alg=${node#*_} name="${kind}_$node"
        used=$(per_core_used "$name")
        machine=$(per_machine_core "$name")
        if [ "$kind" = cc ]; then label=client_credentials; vs_commit=; else label=refresh_token; vs_commit=$(ratio "${RPS[$name]}" "${COMMIT_LIMIT[$engine]}"); fi
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$engine" "$alg" \
            "${RPS[$name]}" "${SPREAD[$name]}" "${P50[$name]}" "${P99[$name]}" "${ERRS[$name]}" "${CPU_US[$name]}" \
            "$used" "$(ratio "$used" "${SIGN_LIMIT[$alg]}")" "$machine" "$(ratio "$machine" 120)" "$vs_commit"
    done
    echo
    echo "| target | measured | |"
    echo "|---|---|---|"
    for engine in "${ENGINES[@]}"; do
        name="cc_${engine}_RS256"
        r=$(ratio "$(per_core_used "$name")" "${SIGN_LIMIT[RS256]}")
        echo "| client_credentials, RS256, $engine: ≥ 0.6 × the signing limit per core used | $r | $(met "$r >= 0.6") |"
        name="refresh_${engine}_RS256"
        r=$(ratio "$(per_machine_core "$name")" 120)
        echo "| refresh, RS256, $engine: ≥ 5 × Keycloak's 120 per machine core | $r × | $(met "$r >= 5") |"
    done
    errors=0
    for entry in "${MEASURED[@]}"; do read -r kind node <<<"$entry"; errors=$((errors + ERRS[${kind}_$node])); done
    echo "| every grant answered 200 | $errors errors | $(met "$errors == 0") |"
    for engine in "${ENGINES[@]}"; do
        if [ "${FSYNC[$engine]:-on}" = off ]; then
            echo "| $engine syncs its commits | fsync=off on that server: its refresh figures are not durable ones (PG_FSYNC=on scripts/pg.sh start) | **not met** |"
        fi
    done
} >"$RESULTS"
echo
cat "$RESULTS"
exit 0
