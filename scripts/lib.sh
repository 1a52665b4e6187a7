# Shared helpers for the scripts in this folder: idempotent tool installs and a throwaway
# PostgreSQL. Source it; every function prints what it does and does nothing when done already.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WASM_BINDGEN_VERSION=0.2.130
WORKER_BUILD_VERSION=0.8.7

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

# The Rust toolchain pinned in rust-toolchain.toml, with the wasm32 target.
ensure_rust() {
  (cd "$ROOT" && rustup show active-toolchain >/dev/null 2>&1) || (cd "$ROOT" && rustup toolchain install)
  if ! (cd "$ROOT" && rustup target list --installed | grep -q wasm32-unknown-unknown); then
    step "adding the wasm32-unknown-unknown target"
    (cd "$ROOT" && rustup target add wasm32-unknown-unknown)
  fi
}

# wasm-bindgen-cli at exactly the version in Cargo.lock (wasm tests and the worker build need it).
ensure_wasm_bindgen() {
  if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
    step "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 3-4 minutes, once)"
    # --locked fails to build this version here; its own lock file is stale.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
  fi
}

ensure_worker_build() {
  if [ "$(worker-build --version 2>/dev/null | awk '{print $2}')" != "$WORKER_BUILD_VERSION" ]; then
    step "installing worker-build $WORKER_BUILD_VERSION (about 4-5 minutes, once)"
    cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked --force
  fi
}

# npm packages from the committed lock file (wrangler, workerd, binaryen, playwright-core).
ensure_npm() {
  if [ ! -d "$ROOT/node_modules" ] || [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]; then
    step "installing npm packages"
    (cd "$ROOT" && npm ci --no-audit --no-fund)
  fi
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
  step "starting PostgreSQL 15 on 127.0.0.1:$PG_PORT ($PG_DIR)"
  runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres >/dev/null
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=on" start >/dev/null
  export EDGEWISE_TEST_PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
}

pg_stop() {
  if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
}
