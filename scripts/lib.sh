# Shared helpers for the scripts in this folder: idempotent tool installs and a throwaway
# PostgreSQL. Source it; every function prints what it does and does nothing when done already.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

# The Rust toolchain pinned in rust-toolchain.toml, with the wasm32 target.
ensure_rust() {
  (cd "$ROOT" && rustup show active-toolchain >/dev/null 2>&1) || (cd "$ROOT" && rustup toolchain install)
  if ! (cd "$ROOT" && rustup target list --installed | grep -q wasm32-unknown-unknown); then
    step "adding the wasm32-unknown-unknown target"
    (cd "$ROOT" && rustup target add wasm32-unknown-unknown)
  fi
}

# Debian's Chromium, for the browser test (playwright-core drives it; it never downloads one).
ensure_chromium() {
  if [ ! -x /usr/bin/chromium ]; then
    step "installing Debian's chromium (about a minute, once)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
}

# Debian's openssl command, with which the HTTPS publish test makes its certificates.
ensure_openssl() {
  if ! command -v openssl >/dev/null; then
    step "installing Debian's openssl"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
  fi
}

# The npm tooling of package.json (wrangler, workerd, binaryen, esbuild, the GrowthBook SDK the
# benchmark compares with), from package-lock.json, when node_modules is missing or stale.
ensure_npm() {
  if [ ! -x "$ROOT/node_modules/.bin/workerd" ] || [ ! -x "$ROOT/node_modules/.bin/esbuild" ] \
    || [ ! -f "$ROOT/node_modules/.package-lock.json" ] \
    || [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]; then
    step "installing the npm tooling (npm ci)"
    (cd "$ROOT" && npm ci --no-audit --no-fund)
  fi
}

# Debian's wrk, for scripts/bench-edge.
ensure_wrk() {
  if ! command -v wrk >/dev/null; then
    step "installing Debian's wrk"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  fi
}

# schemathesis (PyPI, pinned) in a virtualenv of its own, for scripts/api-fuzz. Python 3.11.7's
# ast module fails hypothesis on schemathesis' largest file ("AST constructor recursion depth
# mismatch"), so a newer interpreter is used where the machine has one.
SCHEMATHESIS_VERSION=4.32.5
ST_VENV=${EDGEWISE_ST_VENV:-$HOME/.cache/edgewise/schemathesis-$SCHEMATHESIS_VERSION}
ensure_schemathesis() {
  if [ -x "$ST_VENV/bin/st" ] && "$ST_VENV/bin/st" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"; then
    return
  fi
  local py
  py=$(ls -d "$HOME"/.pyenv/versions/3.1[3-9]*/bin/python3 "$HOME"/.pyenv/versions/3.12*/bin/python3 2>/dev/null | head -n1)
  [ -n "$py" ] || py=python3
  step "installing schemathesis $SCHEMATHESIS_VERSION into $ST_VENV (with $py)"
  rm -rf "$ST_VENV"
  "$py" -m venv "$ST_VENV"
  "$ST_VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
}

PG_BIN=/usr/lib/postgresql/15/bin
PG_PORT=${EDGEWISE_PG_PORT:-55432}

# Starts a throwaway PostgreSQL 15 cluster as the postgres user; exports EDGEWISE_TEST_PG_URL.
pg_start() {
  if [ ! -x "$PG_BIN/initdb" ]; then
    step "installing PostgreSQL 15"
    apt-get update -qq && apt-get install -y -qq postgresql-15 >/dev/null
  fi
  PG_DIR=$(mktemp -d /tmp/edgewise-pg.XXXXXX)
  chown postgres "$PG_DIR"
  runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres >/dev/null
  # The port may be taken (another cluster, a leftover): the next ones are tried.
  local port
  for port in $(seq "$PG_PORT" $((PG_PORT + 20))); do
    step "starting PostgreSQL 15 on 127.0.0.1:$port ($PG_DIR)"
    if runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
      -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=on" start >/dev/null; then
      export EDGEWISE_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
      return 0
    fi
    grep -q "could not bind\|already in use" "$PG_DIR/log" || { cat "$PG_DIR/log" >&2; return 1; }
  done
  echo "no free port for PostgreSQL in $PG_PORT..$((PG_PORT + 20))" >&2
  return 1
}

pg_stop() {
  if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
}
