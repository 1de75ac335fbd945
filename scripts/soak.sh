#!/usr/bin/env bash
# The bounded soak (issue 5): ~20k segments, three workers, a fake LLM with
# faults, random kill -9 of workers, the collector and nats-server. Stops by
# itself (default limit 10 minutes) and prints a report; exit 0 only when no
# segment was lost or duplicated.
#
#   scripts/soak.sh [MINUTES] [EPISODES]     # defaults: 10, 167 (x 120 = 20,040 segments)
#   PODMINE_SEED=... scripts/soak.sh         # replay a run's sequence of faults
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace --bins
exec target/release/soak "$@"
