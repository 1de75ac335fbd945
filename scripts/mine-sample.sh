#!/usr/bin/env bash
# The main job on one machine: `coordinator run` on a sample corpus.
# Uses Ollama when it answers on $OLLAMA_HOST (default 127.0.0.1:11434) and has
# the model; otherwise builds (once) and starts llama-server + SmolLM2-135M
# (deploy/real-llm.sh) and mines with it through the OpenAI-compatible API.
#   scripts/mine-sample.sh [CORPUS]   (default: samples/corpus, two real episodes shipped here;
#                                      with SmolLM2 on CPU, its short episode alone)
# Outputs go to ./out, the checkpoint to ./podmine-data (in the clone, so a
# demo leaves nothing elsewhere). Ctrl-C and run again to resume. bash 3.2.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nats-server >/dev/null || { echo "nats-server is missing: see README.md \"Set-up\"" >&2; exit 1; }
corpus="${1:-}"
cargo build --release --quiet -p coordinator
model="${PODMINE_MODEL:-qwen2.5:7b-instruct}"
ollama="${OLLAMA_HOST:-http://127.0.0.1:11434}"
case "$ollama" in *://*) ;; *) ollama="http://$ollama" ;; esac
if curl -fsS "$ollama/api/tags" 2>/dev/null | grep -q "\"$model\""; then
  echo "mining with Ollama at $ollama ($model)" >&2
  exec target/release/coordinator --data-dir "$PWD/podmine-data" run "${corpus:-samples/corpus}" --llm "$ollama" \
    --model "$model"
fi
echo "no Ollama with $model at $ollama: mining with llama-server + SmolLM2-135M instead." >&2
echo "A 135M model's answers only demonstrate the pipeline; they are not worth keeping." >&2
if [ -z "$corpus" ]; then
  # On CPU, llama-server answers a segment in ~10 s: the short episode of the sample (17
  # segments, ~3 minutes) shows the whole pipeline; give samples/corpus to mine both (~20 minutes).
  corpus="$PWD/podmine-data/sample-smollm"
  mkdir -p "$corpus"
  cp samples/corpus/changelog-news-98.md "$corpus/"
  echo "mining the sample's short episode (changelog-news-98, 17 segments); $0 samples/corpus mines both" >&2
fi
url=$(bash deploy/real-llm.sh start)
trap 'bash deploy/real-llm.sh stop' EXIT
# Compact answers (sentence numbers instead of copied quotes), the small bounded
# schema and one item per kind: answers such a small model finishes, and soon.
target/release/coordinator --data-dir "$PWD/podmine-data" run "$corpus" --llm "$url" --api openai \
  --model SmolLM2-135M-Instruct -- --answers compact --schema deploy/schemas/small-model.json --max-items 1 \
  --num-predict 300
