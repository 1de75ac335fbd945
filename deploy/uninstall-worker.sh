#!/usr/bin/env bash
# Stops and removes the podmine worker's launchd agent. launchd sends SIGTERM:
# the worker finishes or hands back its tasks before it exits. Its data dir
# (the outbox of results not yet published) is kept; a worker installed again
# publishes what it holds.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/launchd/lib.sh"

label=com.podmine.worker
plist="$AGENTS_DIR/$label.plist"
command -v launchctl >/dev/null || die "launchctl not found: this script is for macOS"
launchctl bootout "gui/$(id -u)/$label" 2>/dev/null || echo "$label was not loaded"
rm -f "$plist"
echo "removed $label; kept $SUPPORT_DIR/worker (delete it only once the worker has no unpublished results) and $LOG_DIR"
