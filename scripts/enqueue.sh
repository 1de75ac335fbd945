#!/usr/bin/env bash
# The main job, as far as podmine goes today: put every segment of a corpus on the
# queue. Starts a local nats-server (JetStream, no login, on the loopback address,
# store under ./podmine-data/nats) when none answers on $NATS_URL, then enqueues
# and shows status. Runs under macOS's bash 3.2.
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
  echo "starting a local nats-server on ${hostport%:*}:${hostport#*:}, no login, as \`coordinator run\` does" \
    "(store: $PODMINE_DATA_DIR/nats, log: $PODMINE_DATA_DIR/nats.log)" >&2
  # JetStream on the loopback address only, no login: deploy/nats/ has the fleet's configs (users, TLS).
  nohup nats-server -js -a "${hostport%:*}" -p "${hostport#*:}" -sd "$PODMINE_DATA_DIR/nats" \
    >"$PODMINE_DATA_DIR/nats.log" 2>&1 &
  up=""
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/${hostport%:*}/${hostport#*:}") 2>/dev/null; then up=yes; break; fi
    sleep 0.1
  done
  [ -n "$up" ] || { echo "nats-server did not start; its log:" >&2; tail -20 "$PODMINE_DATA_DIR/nats.log" >&2; exit 1; }
fi
target/release/coordinator enqueue "$corpus"
target/release/coordinator status
