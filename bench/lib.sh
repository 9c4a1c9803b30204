# The parts of the load benchmark that every mode shares: the load generator,
# the build, the servers and the measuring. Sourced by bench/run.sh, which
# sets DURATION and the mode first.

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

# The settings users run: no log level, format or cost set here.
unset TOLLGATE_LOG RUST_LOG TOLLGATE_LOG_FORMAT TOLLGATE_BCRYPT_COST TOLLGATE_BIND \
    TOLLGATE_PASSWORD_HASH TOLLGATE_ARGON2_MEMORY TOLLGATE_ARGON2_ITERATIONS TOLLGATE_ARGON2_PARALLELISM
# Every node and the ceiling name one issuer (the default names each node's port).
export TOLLGATE_ISSUER=${TOLLGATE_ISSUER:-http://tollgate.bench.test}

# Scratch space of this run (databases, logs); deleted at exit.
TMP=$(mktemp -d)

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
# env for bench/wrk.lua; WRK_THREADS wrk threads (default 1).
measure() {
    local name=$1 node=$2 conns=$3 secs=$4 path=$5 before after
    shift 5
    before=$(cpu_ticks "${NODE_PID[$node]}")
    env "$@" "${PIN[@]}" wrk -t"${WRK_THREADS:-1}" -c"$conns" -d"${secs}s" --timeout 60s -s bench/wrk.lua \
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
