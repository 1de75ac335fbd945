#!/usr/bin/env bash
# Issue 16, checks 1 and 2: full against compact answers on the real
# llama-server + SmolLM2-135M (deploy/real-llm.sh), on the same real segments
# (the built-in TWiML episode) and the same server, with podmine's default
# prompt and schema, then with the users' (../shared/reference/users-miner).
# Per mode: output tokens per segment, seg/s at its best concurrency, p50/p95,
# items per segment by kind, usable and grounded shares; then the agreement
# between the modes and a recommendation (`worker bench --answers full,compact`).
#   scripts/bench-compact.sh            (~25 minutes on 2 cores, after the build)
set -euo pipefail
cd "$(dirname "$0")/.."
users=${PODMINE_SHARED:-../shared}/reference/users-miner
[ -f "$users/unified_miner.txt" ] || { echo "the users' prompt is not in $users (set PODMINE_SHARED)" >&2; exit 1; }
cargo build --release --quiet -p worker
bash deploy/real-llm.sh build >/dev/null
port=${PODMINE_BENCH_PORT:-18083}
# Four slots of 16k tokens: the users' prompt (~5.5k tokens), their schema, the
# segment and 1,024 output tokens fit in one.
url=$(PODMINE_LLM_SLOTS=4 PODMINE_LLM_CTX=65536 bash deploy/real-llm.sh start "$port" | tail -n 1)
trap 'bash deploy/real-llm.sh stop >/dev/null 2>&1 || true' EXIT
mkdir -p bench-out
common=(--llm "$url" --api openai --model smollm2 --temperature 0 --max-concurrency 4 --calls-per-step 8
        --answers full,compact)
echo "== podmine's default prompt and schema"
target/release/worker bench "${common[@]}" --svg bench-out/compact-default.svg --json bench-out/compact-default.json
echo
echo "== the users' unified_miner.txt and miner_output.v1.json"
target/release/worker bench "${common[@]}" --prompt "$users/unified_miner.txt" --schema "$users/miner_output.v1.json" \
  --svg bench-out/compact-users.svg --json bench-out/compact-users.json
