#!/usr/bin/env bash
# The whole pipeline at the users' size (issue 19): enqueue → one worker against
# an instant fake LLM → collect → status → export --jsonl, printing each stage.
#   scripts/bench-scale.sh [EPISODES=7000] [SEGMENTS=120]
# Needs nats-server on PATH (README.md "Set-up") and ~8 GB of temp disk; ~10 minutes at full size.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p coordinator -p worker -p podmine-tests --bins
exec target/release/bench-scale "$@"
