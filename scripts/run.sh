#!/usr/bin/env bash
# The main job on a fresh machine: installs what is missing, brings up NATS
# (JetStream) and Postgres if none is reachable, builds and starts every
# service, and with the `pharmforge` client submits the example file
# (examples/seed.smi: CCO, CC(=O)O) through the default route (the
# adapters on it: AdapterName::in_default_route), watches its progress and
# prints the results table.
#   KEEP_RUNNING=1 leaves the services up afterwards; API_PORT picks the port.
#   `scripts/run.sh stop` stops what an earlier KEEP_RUNNING=1 left running:
#   the services, and the private nats-server and Postgres it started.
# Exits 0 when the example run completed, non-zero otherwise.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

# Every crate under services/ is a service; those besides the API and the
# aggregator are the adapters (README, "Adding an adapter"): the crate
# services/rdkit-local builds pharmforge-rdkit-local, adapter rdkit_local.
ADAPTER_SERVICES=($(cd services && ls -d */ | tr -d / | grep -vx -e api -e aggregator))
SERVICES=(aggregator "${ADAPTER_SERVICES[@]}" api)

if [ "${1:-}" = stop ]; then
  if [ -f "$DATA/services.pids" ]; then
    while read -r pid; do kill -TERM "$pid" 2>/dev/null || true; done <"$DATA/services.pids"
    while read -r pid; do
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done <"$DATA/services.pids"
    rm -f "$DATA/services.pids"
    log "stopped the services"
  fi
  stop_private_servers
  exit 0
fi
[ $# -eq 0 ] || die "usage: scripts/run.sh [stop]"

install_prerequisites
ensure_postgres
ensure_nats
create_database pharmforge
export DATABASE_URL="postgres://postgres@127.0.0.1:${PG_PORT:-5432}/pharmforge"
API_PORT="${API_PORT:-8000}"
export API_ADDR="127.0.0.1:$API_PORT"
# The demo runs on this machine only: no bearer tokens (the API warns about it).
export API_AUTH="${API_AUTH:-off}"
port_open 127.0.0.1 "$API_PORT" && die "port $API_PORT is taken: set API_PORT to a free port"

log "building the services and the pharmforge client (release)"
cargo build --release -q --bins -p pharmforge-cli $(printf -- '-p pharmforge-%s ' "${SERVICES[@]}")

pids=()
cleanup() {
  if [ "${KEEP_RUNNING:-0}" != 1 ]; then
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    # Only the services: a private nats-server started above stays up.
    wait "${pids[@]}" 2>/dev/null || true
  else
    printf '%s\n' "${pids[@]}" >"$DATA/services.pids"
    log "the services keep running (API on http://$API_ADDR); stop them with scripts/run.sh stop"
  fi
}
trap cleanup EXIT
mkdir -p "$DATA/logs"
for svc in "${SERVICES[@]}"; do
  log "starting pharmforge-$svc (log: $DATA/logs/$svc.log)"
  "target/release/pharmforge-$svc" >"$DATA/logs/$svc.log" 2>&1 &
  pids+=($!)
done

for _ in $(seq 1 150); do
  curl -fs "http://$API_ADDR/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fs "http://$API_ADDR/readyz" >/dev/null || die "the API did not become ready (see $DATA/logs)"

pharmforge=target/release/pharmforge
export PHARMFORGE_URL="http://$API_ADDR"
# No --adapters: the run takes the default route (AdapterName::default_route).
log "pharmforge submit examples/seed.smi"
run_id=$("$pharmforge" submit examples/seed.smi)
log "run $run_id accepted; pharmforge watch $run_id"
status=0
"$pharmforge" watch "$run_id" || status=$?
log "pharmforge results $run_id"
"$pharmforge" results "$run_id"
[ "$status" = 0 ] || log "run $run_id did not complete (pharmforge watch exited $status: 1 failed, 2 cancelled, 3 error)"
exit "$status"
