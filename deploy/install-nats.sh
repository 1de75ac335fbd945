#!/usr/bin/env bash
# Installs nats-server for podmine as a launchd agent on the always-on Mac.
#
#   coordinator nats-users --dir ~/.config/podmine          # once
#   deploy/install-nats.sh --env-file ~/.config/podmine/server.env \
#       [--config deploy/nats/single-node.conf | deploy/nats/cluster/node-a.conf] \
#       [--nats-server-bin /opt/homebrew/bin/nats-server]
#
# Copies deploy/nats/ next to the store, checks the config with `nats-server -t`,
# then loads the agent. Running it again applies a changed config.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/launchd/lib.sh"

label=com.podmine.nats-server
env_file="" config="nats/single-node.conf" server_bin=""
while [ $# -gt 0 ]; do
  case $1 in
    --env-file) env_file=$2; shift 2 ;;
    --config) config=${2#deploy/}; shift 2 ;;
    --nats-server-bin) server_bin=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[ -n "$env_file" ] && [ -r "$env_file" ] || die "--env-file server.env is required (\`coordinator nats-users\` makes it)"
coordinator_hash=$(env_value "$env_file" PODMINE_COORDINATOR_PASSWORD_HASH)
worker_hash=$(env_value "$env_file" PODMINE_WORKER_PASSWORD_HASH)
[ -n "$coordinator_hash" ] && [ -n "$worker_hash" ] || die "$env_file must set both password hashes"
[ -f "$here/$config" ] || die "no config $here/$config"
[ -n "$server_bin" ] || server_bin=$(command -v nats-server || true)
[ -x "$server_bin" ] || die "nats-server not found: \`brew install nats-server\`, or pass --nats-server-bin"

store_dir="$SUPPORT_DIR/nats"
config_dir="$SUPPORT_DIR/nats-config"
mkdir -p "$AGENTS_DIR" "$store_dir" "$config_dir" "$LOG_DIR"
cp -R "$here/nats/." "$config_dir/"
installed_config="$config_dir/${config#nats/}"
PODMINE_COORDINATOR_PASSWORD_HASH=$coordinator_hash PODMINE_WORKER_PASSWORD_HASH=$worker_hash \
  "$server_bin" -t -c "$installed_config" >/dev/null || die "nats-server rejects $installed_config (see above)"
plist="$AGENTS_DIR/$label.plist"
fill "$here/launchd/$label.plist" "$plist" \
  NATS_SERVER_BIN="$server_bin" CONFIG="$installed_config" DATA_DIR="$store_dir" LOG_DIR="$LOG_DIR" \
  PODMINE_COORDINATOR_PASSWORD_HASH="$coordinator_hash" PODMINE_WORKER_PASSWORD_HASH="$worker_hash"
reload_agent "$label" "$plist"

cat <<DONE
installed $label (plist: $plist)
  config:  $installed_config (store in $store_dir)
  logs:    tail -f "$LOG_DIR/nats-server.log"
  state:   launchctl print gui/$(id -u)/$label
Workers connect with NATS_URL=nats://$(hostname):4222 and worker.env.
DONE
