# `just bench --logins`: POST /token with each password hash profile, each on a
# fresh SQLite file. Sourced by bench/run.sh after bench/lib.sh.

# Logins only: one node per password hash profile.
# Each profile on a fresh SQLite file with its user hashed at that profile;
# POST /token with the right password, LOGIN_CONNS connections (queued
# behind one hash per core), then the node's peak RSS (VmHWM).
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
