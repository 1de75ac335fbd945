#!/usr/bin/env bash
# Issue 16, checks 1 and 2: full against compact answers on the real
# llama-server + SmolLM2-135M (deploy/real-llm.sh), on the same real segments
# (the built-in TWiML episode) and the same server (`worker bench --answers
# full,compact`). Per mode: output tokens per segment, seg/s at its best
# concurrency, p50/p95, items per segment by kind, usable and grounded shares;
# then the agreement between the modes and a recommendation. Three settings:
#   bounded  podmine's prompt with deploy/schemas/small-model.json (few, short items) and --num-predict 400:
#            answers a 135M model finishes, so what the copies cost shows
#   default  podmine's prompt and schema, --num-predict 1024
#   users    the users' unified_miner.txt and miner_output.v1.json (../shared/reference/users-miner)
#   scripts/bench-compact.sh [bounded] [default] [users]     (all three: ~60 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
users=${PODMINE_SHARED:-../shared}/reference/users-miner
settings=("$@")
[ ${#settings[@]} -gt 0 ] || settings=(bounded default users)
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
for setting in "${settings[@]}"; do
  case "$setting" in
    bounded)
      echo "== podmine's prompt, the small-model schema, --num-predict 400"
      flags=(--schema deploy/schemas/small-model.json --num-predict 400) ;;
    default)
      echo "== podmine's default prompt and schema"
      flags=() ;;
    users)
      [ -f "$users/unified_miner.txt" ] || { echo "the users' prompt is not in $users (set PODMINE_SHARED)" >&2; exit 1; }
      echo "== the users' unified_miner.txt and miner_output.v1.json"
      flags=(--prompt "$users/unified_miner.txt" --schema "$users/miner_output.v1.json") ;;
    *) echo "unknown setting $setting (bounded, default, users)" >&2; exit 2 ;;
  esac
  # "${flags[@]+"${flags[@]}"}": an empty array under `set -u` is an error in bash 3.2 (macOS).
  target/release/worker bench "${common[@]}" ${flags[@]+"${flags[@]}"} \
    --svg "bench-out/compact-$setting.svg" --json "bench-out/compact-$setting.json"
  echo
done
