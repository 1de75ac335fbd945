#!/usr/bin/env bash
# Issue 6, check 3: on the real llama-server + SmolLM2 (deploy/real-llm.sh),
# `worker bench` sweeps concurrency, then a worker with --concurrency auto
# mines real segments; prints auto's calls/s beside the sweep's best point.
#   scripts/bench-real-llm.sh [SEGMENTS=40]        (~15 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p worker -p coordinator -p podmine-tests --bins
bash deploy/real-llm.sh build >/dev/null
port=${PODMINE_BENCH_PORT:-18081}
url=$(bash deploy/real-llm.sh start "$port" | tail -n 1)
trap 'bash deploy/real-llm.sh stop >/dev/null 2>&1 || true' EXIT
mkdir -p bench-out
target/release/worker bench --llm "$url" --api openai --model smollm2 --num-predict 160 \
  --schema deploy/schemas/small-model.json --max-concurrency 8 \
  --svg bench-out/real-llm.svg --json bench-out/real-llm.json
target/release/bench-worker real "$url" bench-out/real-llm.json "${1:-40}"
