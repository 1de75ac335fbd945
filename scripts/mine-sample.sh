#!/usr/bin/env bash
# The main job on one machine: `coordinator run` on a sample corpus.
# Uses Ollama when it answers on $OLLAMA_HOST (default 127.0.0.1:11434) and has
# the model; otherwise builds (once) and starts llama-server + SmolLM2-135M
# (deploy/real-llm.sh) and mines with it through the OpenAI-compatible API.
#   scripts/mine-sample.sh [CORPUS]   (default: samples/corpus, two real episodes shipped here)
# Outputs go to ./out, the checkpoint to ./podmine-data. Ctrl-C and run again to resume.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nats-server >/dev/null || { echo "nats-server is missing: see README.md \"Set-up\"" >&2; exit 1; }
corpus="${1:-samples/corpus}"
cargo build --release --quiet -p coordinator
model="${PODMINE_MODEL:-qwen2.5:7b-instruct}"
ollama="${OLLAMA_HOST:-http://127.0.0.1:11434}"
case "$ollama" in *://*) ;; *) ollama="http://$ollama" ;; esac
if curl -fsS "$ollama/api/tags" 2>/dev/null | grep -q "\"$model\""; then
  echo "mining with Ollama at $ollama ($model)" >&2
  exec target/release/coordinator run "$corpus" --llm "$ollama" --model "$model"
fi
echo "no Ollama with $model at $ollama: using llama-server + SmolLM2-135M (answers are poor; the pipeline is real)" >&2
url=$(bash deploy/real-llm.sh start)
trap 'bash deploy/real-llm.sh stop' EXIT
target/release/coordinator run "$corpus" --llm "$url" --api openai --model SmolLM2-135M-Instruct \
  -- --schema deploy/schemas/small-model.json --num-predict 400
