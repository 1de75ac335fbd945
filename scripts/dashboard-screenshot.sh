#!/usr/bin/env bash
# The README's screenshot of the dashboard: the browser test
# (tests/tests/dashboard.rs) runs a small corpus with the fake LLM and keeps
# the PNG it takes during the run. Needs Debian's chromium and chromium-driver
# (.ci/run installs them).
#   scripts/dashboard-screenshot.sh [docs/dashboard.png]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/dashboard.png}"
mkdir -p "$(dirname "$out")"
# An absolute path without GNU `realpath -m` (macOS has no -m): the test runs elsewhere.
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
cargo build --workspace --quiet
PODMINE_SCREENSHOT="$out" cargo test --quiet -p podmine-tests --test dashboard
echo "screenshot: $out"
