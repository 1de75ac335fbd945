#!/usr/bin/env bash
# Issue 14, check 3: the users' prompt and schema (../shared/reference/users-miner)
# beside podmine's default, on the real llama-server + SmolLM2-135M
# (deploy/real-llm.sh), same segments, same server: prompt tokens per call,
# prefix-cache hit ratio, output tokens per segment, seg/s, usable answers and
# the grounded share, as one table.
#   scripts/bench-users-prompt.sh            (~10 minutes on 2 cores, after the build)
set -euo pipefail
cd "$(dirname "$0")/.."
users=${PODMINE_SHARED:-../shared}/reference/users-miner
[ -f "$users/unified_miner.txt" ] || { echo "the users' prompt is not in $users (set PODMINE_SHARED)" >&2; exit 1; }
cargo build --release --quiet -p worker
bash deploy/real-llm.sh build >/dev/null
port=${PODMINE_BENCH_PORT:-18082}
# Two slots of 16k tokens: their prompt (~5.5k tokens), the schema, the segment and 1,024 output tokens fit.
url=$(PODMINE_LLM_SLOTS=2 PODMINE_LLM_CTX=32768 bash deploy/real-llm.sh start "$port" | tail -n 1)
trap 'bash deploy/real-llm.sh stop >/dev/null 2>&1 || true' EXIT
mkdir -p bench-out
common=(--llm "$url" --api openai --model smollm2 --temperature 0 --max-concurrency 2 --calls-per-step 8)
echo "== podmine's default prompt and schema"
target/release/worker bench "${common[@]}" --svg bench-out/prompt-default.svg --json bench-out/prompt-default.json
echo "== the users' unified_miner.txt and miner_output.v1.json"
target/release/worker bench "${common[@]}" --prompt "$users/unified_miner.txt" --schema "$users/miner_output.v1.json" \
  --svg bench-out/prompt-users.svg --json bench-out/prompt-users.json
python3 - bench-out/prompt-default.json bench-out/prompt-users.json <<'PY'
import json, sys
rows = []
for name, path in (("podmine default", sys.argv[1]), ("users' prompt + schema", sys.argv[2])):
    r = json.load(open(path))
    a = r["answers"]
    best = max(r["steps"], key=lambda s: s["segments_per_s"])
    rows.append((name, a["prompt_tokens_per_call"], r["cache_hit_ratio"], a["output_tokens_per_call"],
                 best["segments_per_s"], best["concurrency"], a["valid"], a["answered"], a["items_per_valid"],
                 a["grounded_share"], a["empty"]))
print()
print("| prompt | prompt tok/call | cached | output tok/segment | seg/s (best conc) | usable | items/usable | grounded | empty |")
print("|---|---|---|---|---|---|---|---|---|")
for n, p, c, o, s, k, v, t, i, g, e in rows:
    print(f"| {n} | {p:.0f} | {c:.0%} | {o:.0f} | {s:.3f} ({k}) | {v}/{t} | {i:.1f} | {g:.0%} | {e} |")
PY
