#!/usr/bin/env bash
# The main job, as far as podmine goes today: put every segment of a corpus on the
# queue. Starts a local nats-server (deploy/nats/single-node.conf, store under
# ./podmine-data/nats) when none answers on $NATS_URL, then enqueues and shows status.
#   scripts/enqueue.sh [CORPUS=../shared/corpus]
set -euo pipefail
cd "$(dirname "$0")/.."
corpus="${1:-../shared/corpus}"
export NATS_URL="${NATS_URL:-nats://127.0.0.1:4222}"
export PODMINE_DATA_DIR="${PODMINE_DATA_DIR:-$PWD/podmine-data}"
command -v nats-server >/dev/null || { echo "nats-server is missing: see README.md \"Set-up\"" >&2; exit 1; }
cargo build --release --quiet -p coordinator
hostport="${NATS_URL#nats://}"
if ! (exec 3<>"/dev/tcp/${hostport%:*}/${hostport#*:}") 2>/dev/null; then
  mkdir -p "$PODMINE_DATA_DIR/nats"
  echo "starting nats-server (store: $PODMINE_DATA_DIR/nats, log: $PODMINE_DATA_DIR/nats.log)" >&2
  # The shipped config, with its store in the data dir (a config's store_dir cannot be overridden by -sd).
  sed "s|^  store_dir: .*|  store_dir: \"$PODMINE_DATA_DIR/nats\"|" deploy/nats/single-node.conf >"$PODMINE_DATA_DIR/nats.conf"
  nohup nats-server -c "$PODMINE_DATA_DIR/nats.conf" -p "${hostport#*:}" >"$PODMINE_DATA_DIR/nats.log" 2>&1 &
  for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/${hostport%:*}/${hostport#*:}") 2>/dev/null && break; sleep 0.1; done
fi
target/release/coordinator enqueue "$corpus"
target/release/coordinator status
