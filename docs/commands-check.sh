#!/usr/bin/env bash
# Runs the commands of README.md and docs/deployment.md that sit in code
# fences marked `check` (```sh check), as written, on a copy of the
# repository, and fails if any step fails. Each page's blocks run in order
# as one shell script (`set -euo pipefail`), with these changes only:
#
# - 127.0.0.1:8000 and 127.0.0.1:8001 become free ports, and TOLLGATE_BIND
#   names the first, so a `cargo run` without --bind listens there too;
# - a line that starts a server (`cargo run`, `cargo run -- serve ...`) runs
#   in the background, as in another terminal, and the script goes on once
#   the server answers /readyz; the servers are stopped at the end;
# - standard input is the first admin's password, once a server printed it
#   (README's walkthrough reads it with `read`);
# - `scripts/pg.sh` gets a PostgreSQL cluster of its own on a free port,
#   deleted at the end;
# - a documented status line (`# HTTP/1.1 403 Forbidden`) must appear in the
#   output.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-commands.XXXXXX")
# The copy the commands run in: at one path, so that cargo's build of it in
# the shared target directory is reused from one run to the next (a new
# path each time would leave a new build of the crate behind each time).
COPY=${TMPDIR:-/tmp}/tollgate-commands-check
rm -rf "$COPY"
mkdir -p "$COPY"
# PostgreSQL's tools run as its own user, from this directory.
chmod 755 "$COPY"
export PG_DIR
PG_DIR=$(mktemp -d /tmp/tollgate-commands-pg.XXXXXX)

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
P1=$(free_port)
P2=$(free_port)
export PG_PORT
PG_PORT=$(free_port)

cleanup() {
    if [ -f "$WORK/pids" ]; then
        while read -r pid; do kill -- "-$pid" 2>/dev/null || true; done < "$WORK/pids"
    fi
    "$ROOT/scripts/pg.sh" clean >/dev/null 2>&1 || true
    rm -rf "$WORK" "$COPY" "$PG_DIR"
}
trap cleanup EXIT

git ls-files -z | xargs -0 cp --parents -t "$COPY"
mkdir -p "$WORK/check"
: > "$WORK/pids"
python3 - "$ROOT" "$WORK/check" "$P1" "$P2" <<'PY'
import pathlib, re, shlex, sys
root, out, p1, p2 = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3], sys.argv[4]
server = re.compile(r"^(cargo run(?: -q| --quiet)?(?: -- serve\b[^#]*)?)\s*(?:#.*)?$")
for page in ["README.md", "docs/deployment.md"]:
    text = (root / page).read_text()
    blocks = re.findall(r"^```\S*[ \t]+check[ \t]*\n(.*?)^```$", text, re.S | re.M)
    assert blocks, f"{page} has no block marked check"
    script, expected = [], []
    for block in blocks:
        block = block.replace("127.0.0.1:8000", f"127.0.0.1:{p1}")
        block = block.replace("127.0.0.1:8001", f"127.0.0.1:{p2}")
        for line in block.splitlines():
            found = server.match(line)
            if found:
                command = found.group(1).strip()
                port = re.search(r"--bind 127\.0\.0\.1:(\d+)", command)
                script.append(f"start_server {port.group(1) if port else p1} {shlex.quote(command)}")
                continue
            status = re.match(r"^# (HTTP/[\d.]+ \d{3})", line)
            if status:
                expected.append(status.group(1))
            script.append(line)
    name = pathlib.Path(page).stem
    (out / f"{name}.sh").write_text("\n".join(script) + "\n")
    (out / f"{name}.expected").write_text("".join(e + "\n" for e in expected))
    print(f"{page}: {len(blocks)} blocks, {len(script)} lines, {len(expected)} status lines to see")
PY

# Starts `$2` in the background in a process group of its own, and waits
# until it answers on port $1.
cat > "$WORK/check/prelude.sh" <<'SH'
start_server() {
    local n log pid
    n=$(wc -l < "$CHECK_PIDS")
    log="$CHECK_LOGS/server-$n.log"
    setsid bash -c "$2" > "$log" 2>&1 < /dev/null &
    pid=$!
    echo "$pid" >> "$CHECK_PIDS"
    for _ in $(seq 1 900); do
        curl -sf -o /dev/null "http://127.0.0.1:$1/readyz" && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "the server of \`$2\` exited:" >&2
            cat "$log" >&2
            return 1
        fi
        sleep 0.2
    done
    echo "\`$2\` does not answer on port $1" >&2
    return 1
}
trap 'echo "failed: $BASH_COMMAND" >&2' ERR
SH

# The first admin's password, once a server has printed it.
password() {
    for _ in $(seq 1 900); do
        local pw
        pw=$(cat "$WORK"/check/server-*.log 2>/dev/null |
            sed -n 's/^tollgate: initial admin password: \([^ ]*\) .*/\1/p' | head -n 1) || true
        if [ -n "$pw" ]; then
            echo "$pw"
            return
        fi
        sleep 0.2
    done
}

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export CHECK_PIDS=$WORK/pids CHECK_LOGS=$WORK/check
for name in README deployment; do
    echo "== $name: the commands marked check"
    # Only what the page sets: no TOLLGATE_ setting of the caller's.
    for var in $(env | sed -n 's/^\(TOLLGATE_[A-Z_]*\)=.*/\1/p'); do unset "$var"; done
    (
        cd "$COPY"
        export TOLLGATE_BIND=127.0.0.1:$P1
        cat "$WORK/check/prelude.sh" "$WORK/check/$name.sh" > "$WORK/check/$name.run.sh"
        bash -euo pipefail "$WORK/check/$name.run.sh" < <(password) | tee "$WORK/check/$name.out"
    ) || { echo "docs check: $name failed (server logs: below)" >&2; tail -n 20 "$WORK"/check/server-*.log >&2 || true; exit 1; }
    while read -r status; do
        grep -qF "$status" "$WORK/check/$name.out" || { echo "docs check: $name: no \`$status\` in the output" >&2; exit 1; }
    done < "$WORK/check/$name.expected"
    # The next page starts afresh: stop this page's servers.
    while read -r pid; do kill -- "-$pid" 2>/dev/null || true; done < "$WORK/pids"
    : > "$WORK/pids"
    rm -f "$WORK"/check/server-*.log
done
echo "README.md and docs/deployment.md: the commands marked check work as written"
