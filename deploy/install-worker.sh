#!/usr/bin/env bash
# Installs the podmine worker as a launchd agent on this Mac (README.md "Scale out").
#
#   deploy/install-worker.sh --env-file worker.env --nats nats://mac-a.local:4222 \
#       [--llm http://127.0.0.1:11434] [--model NAME] \
#       [--worker-bin /usr/local/bin/worker] [-- more worker flags, e.g. --concurrency 8]
#
# worker.env comes from `coordinator nats-users` on the NATS Mac (NATS_USER,
# NATS_PASSWORD). The model, prompt and options come from the run's mining
# spec (README.md "Settings for the whole fleet"): --model only pins this Mac
# to one, and it refuses to pull while the run's spec names another. Running
# it again replaces the agent; launchd stops the old worker with SIGTERM.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/launchd/lib.sh"

label=com.podmine.worker
env_file="" nats="" llm="http://127.0.0.1:11434" model="" worker_bin="" extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --env-file) env_file=$2; shift 2 ;;
    --nats) nats=$2; shift 2 ;;
    --llm) llm=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --worker-bin) worker_bin=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

[ -n "$env_file" ] || die "--env-file worker.env is required (make it with \`coordinator nats-users\` on the NATS Mac)"
[ -r "$env_file" ] || die "cannot read $env_file"
user=$(env_value "$env_file" NATS_USER)
password=$(env_value "$env_file" NATS_PASSWORD)
[ -n "$user" ] && [ -n "$password" ] || die "$env_file must set NATS_USER and NATS_PASSWORD"
[ -n "$nats" ] || nats=$(env_value "$env_file" NATS_URL)
[ -n "$nats" ] || die "--nats nats://<the NATS Mac>:4222 is required (or NATS_URL in $env_file)"
if [ -z "$worker_bin" ]; then
  worker_bin=$(command -v worker || true)
  [ -n "$worker_bin" ] || worker_bin="$here/../target/release/worker"
fi
[ -x "$worker_bin" ] || die "no worker binary at $worker_bin: build it (\`cargo build --release\`) or pass --worker-bin"
worker_bin=$(cd "$(dirname "$worker_bin")" && pwd)/$(basename "$worker_bin")

data_dir="$SUPPORT_DIR/worker"
mkdir -p "$AGENTS_DIR" "$data_dir" "$LOG_DIR"
extra_xml=""
[ -z "$model" ] || extra=(--model "$model" ${extra[@]+"${extra[@]}"})
for arg in ${extra[@]+"${extra[@]}"}; do
  extra_xml+="<string>$(xml_escape "$arg")</string>"
done
plist="$AGENTS_DIR/$label.plist"
fill "$here/launchd/$label.plist" "$plist" \
  WORKER_BIN="$worker_bin" DATA_DIR="$data_dir" LOG_DIR="$LOG_DIR" NATS_URL="$nats" NATS_USER="$user" \
  NATS_PASSWORD="$password" LLM_URL="$llm" EXTRA_ARGS_XML="$extra_xml"
reload_agent "$label" "$plist"
shown_model=$model
[ -n "$shown_model" ] || shown_model="the run's mining spec"

cat <<DONE
installed $label (plist: $plist, mode 600: it holds the NATS password)
  worker:  $worker_bin
  NATS:    $nats as $user; LLM: $llm; model: $shown_model
  logs:    tail -f "$LOG_DIR/worker.log"
  state:   launchctl print gui/$(id -u)/$label
  remove:  deploy/uninstall-worker.sh
Keep this Mac awake while it mines: System Settings > Energy ("Prevent automatic sleeping"),
or \`sudo pmset -c sleep 0\`.
DONE
