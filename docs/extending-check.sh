#!/usr/bin/env bash
# Follows docs/extending.md as written, on a copy of the repository: applies
# its diffs, writes its files, regenerates the spec, and runs the spec and
# scope tests, which must then cover the new resource and scopes, and the
# resource's own test from the guide.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-extending.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

git ls-files -z | xargs -0 cp --parents -t "$WORK"
python3 - "$ROOT/docs/extending.md" "$WORK" <<'PY'
import pathlib, re, subprocess, sys
doc, work = pathlib.Path(sys.argv[1]).read_text(), pathlib.Path(sys.argv[2])
blocks = re.findall(r"^```(\S*)([^\n]*)\n(.*?)^```$", doc, re.S | re.M)
applied = written = 0
for lang, info, body in blocks:
    target = re.search(r"file=(\S+)", info)
    if target:
        path = work / target.group(1)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
        written += 1
    elif lang == "diff":
        subprocess.run(["git", "apply", "--unidiff-zero", "-"], input=body.encode(),
                       cwd=work, check=True)
        applied += 1
print(f"extending.md: {applied} diffs applied, {written} files written")
assert applied and written, "the guide has no steps to check"
PY
cd "$WORK"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
cargo run --quiet -- openapi > openapi/openapi.json
grep -q '"read:notes"' openapi/openapi.json || { echo "the spec lacks read:notes" >&2; exit 1; }
grep -q '"/notes"' openapi/openapi.json || { echo "the spec lacks /notes" >&2; exit 1; }
grep -q '"Notes"' openapi/openapi.json || { echo "the spec lacks the Notes tag" >&2; exit 1; }
cargo test --quiet --test api -- scopes spec notes::
echo "docs/extending.md: followed as written, the new scopes are in the spec and enforced, and its test passes"
