#!/usr/bin/env bash
# Worker throughput benchmarks (issue 6), release build, printing their figures:
#   scripts/bench-worker.sh dispatch [TASKS=100000]   # whole worker path vs raw pull-and-ack and result-storing loops, CPU per task
#   scripts/bench-worker.sh fleet [SEGMENTS=3000]     # --concurrency auto vs fixed settings
# Needs nats-server on PATH (README.md "Set-up").
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p worker -p podmine-tests --bins
exec target/release/bench-worker "$@"
