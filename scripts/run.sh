#!/usr/bin/env bash
# The main job on a fresh machine: installs what is missing, brings up NATS
# (JetStream) and Postgres if none is reachable, builds and starts every
# service, submits the seed's example run (CCO, CC(=O)O) through every
# adapter built so far, shows its progress and prints the results.
#   KEEP_RUNNING=1 leaves the services up afterwards; API_PORT picks the port.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

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

log "building the services (release)"
cargo build --release --bins -q

ADAPTERS=(rdkit_local admet_ai pubchem chembl)
pids=()
cleanup() {
  if [ "${KEEP_RUNNING:-0}" != 1 ]; then
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    # Only the services: a private nats-server started above stays up.
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap cleanup EXIT
mkdir -p "$DATA/logs"
for svc in aggregator rdkit-local admet-ai pubchem chembl api; do
  log "starting pharmforge-$svc (log: $DATA/logs/$svc.log)"
  "target/release/pharmforge-$svc" >"$DATA/logs/$svc.log" 2>&1 &
  pids+=($!)
done

for _ in $(seq 1 150); do
  curl -fs "http://$API_ADDR/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fs "http://$API_ADDR/readyz" >/dev/null || die "the API did not become ready (see $DATA/logs)"

adapters_json=$(printf '"%s",' "${ADAPTERS[@]}")
body="{\"input_smiles\": [\"CCO\", \"CC(=O)O\"], \"pipeline_config\": {\"adapters\": [${adapters_json%,}]}, \"user_id\": \"demo\"}"
log "POST /api/v1/runs $body"
run=$(curl -fsS -X POST -H 'content-type: application/json' -d "$body" "http://$API_ADDR/api/v1/runs")
run_id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["run_id"])' <<<"$run")
log "run $run_id accepted"
for _ in $(seq 1 300); do
  state=$(curl -fsS "http://$API_ADDR/api/v1/runs/$run_id")
  line=$(python3 -c 'import json,sys; r=json.load(sys.stdin); c=r["compounds"]; print(r["status"], "progress=%.2f" % r["progress"], "completed=%d failed=%d of %d" % (c["completed"], c["failed"], c["total"]))' <<<"$state")
  echo "  $line"
  case "$line" in completed*|failed*|cancelled*) break ;; esac
  sleep 0.5
done
log "results"
python3 -m json.tool <<<"$state"
