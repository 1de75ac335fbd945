#!/usr/bin/env bash
# Fuzzes every transcript reader (with the segmenter after it) and the wire
# decoder with cargo-fuzz (libFuzzer), each target for SECONDS (default 60),
# seeded from ../shared/corpus, and prints a report. A crash leaves its input
# in fuzz/artifacts/<target>/: fix the bug, then copy the input to
# transcripts/tests/fuzz_regressions/<target>/ so CI keeps checking it.
#
#   scripts/fuzz.sh [SECONDS]
#
# Needs the nightly toolchain (`rustup toolchain install nightly`) and
# cargo-fuzz (installed here when missing). Not part of CI: too slow.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shared=${PODMINE_CORPUS:-../shared/corpus}

rustup toolchain list | grep -q '^nightly' || { echo "needs nightly: rustup toolchain install nightly" >&2; exit 1; }
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

# Seeds: the head of every shared transcript, behind the byte that tells the
# target which file name (extension) to pretend (see fuzz_targets/transcript.rs).
seeds=fuzz/corpus/transcript
mkdir -p "$seeds" fuzz/corpus/wire
find "$shared" -type f \( -name '*.srt' -o -name '*.vtt' -o -name '*.json' -o -name '*.md' -o -name '*.txt' \) |
  while read -r file; do
    case $file in *.srt) pick=0 ;; *.vtt) pick=1 ;; *.json) pick=2 ;; *.md) pick=3 ;; *) pick=4 ;; esac
    { printf "\\x0$pick"; head -c 16384 "$file"; } >"$seeds/$(basename "$file").seed"
  done

report=()
status=0
for target in transcript wire; do
  log=fuzz/$target.log
  echo "fuzzing $target for ${seconds}s (log: $log)"
  if cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -max_len=32768 -rss_limit_mb=2048 \
      >"$log" 2>&1; then
    outcome="no crash"
  else
    outcome="CRASH: see fuzz/artifacts/$target/"
    status=1
  fi
  runs=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -n 1 || true)
  [ -n "$runs" ] || runs=$(grep -oE '#[0-9]+' "$log" | tail -n 1 || echo "?")
  cover=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 || echo "cov: ?")
  report+=("$(printf '%-11s %-40s %-10s %s' "$target" "$runs" "$cover" "$outcome")")
done
echo
echo "fuzz report ($(date -u +%Y-%m-%dT%H:%MZ), ${seconds}s per target, rustc $(rustc +nightly --version | cut -d' ' -f2-3))"
printf '%s\n' "${report[@]}"
exit $status
