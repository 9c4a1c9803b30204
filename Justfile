# The daily commands. Install just with `cargo install just` (or your package manager).

# Serve the API on 127.0.0.1:8000 with ./tollgate.db
run *ARGS:
    cargo run -- {{ARGS}}

# The whole test suite (what CI runs first)
test:
    cargo test

# The suite on PostgreSQL, with the tests that need it (and PgBouncer, if installed): starts the throwaway server of `just pg` first
test-pg:
    TOLLGATE_TEST_DATABASE_URL=$(scripts/pg.sh start) cargo test -- --include-ignored

# A throwaway PostgreSQL on 127.0.0.1:55432 (prints its URL); `just pg stop` stops it
pg ACTION="start":
    scripts/pg.sh {{ACTION}}

# Rewrite openapi/openapi.json from the code
openapi:
    cargo run --quiet -- openapi > openapi/openapi.json

# Load benchmark of the release build at the default settings; writes bench/results.md (`--users 100000` adds the size test, `--database URL` serves that database)
bench *ARGS:
    ./bench/run.sh {{ARGS}}

# End-to-end checks with real clients: Swagger UI in headless Chromium, schemathesis, generated Python, Rust and TypeScript clients, spec validation (see e2e/README.md)
e2e:
    bash e2e/run.sh

# Formatting and lints, as CI checks them
lint:
    cargo fmt --all -- --check
    cargo clippy --all-targets -- -D warnings

# The commands of README.md and docs/deployment.md marked `check`, run as written against real servers on free ports
docs:
    bash docs/commands-check.sh
