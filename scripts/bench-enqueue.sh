#!/usr/bin/env bash
# Enqueue benchmark (issue 2): `coordinator enqueue` of a generated corpus beside a
# raw async-nats publish loop of the same payloads, same server, same run.
#   scripts/bench-enqueue.sh [EPISODES=7000] [SEGMENTS=120] [ROUNDS=3]
# Needs nats-server on PATH (see README.md "Set-up"),
# and ~2 GB of temp disk; takes ~5 minutes at full size.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p coordinator -p podmine-tests --bins
exec target/release/bench-enqueue "$@"
