# Shared by deploy/install-*.sh and deploy/uninstall-worker.sh: filling the
# plist templates in this folder and (re)loading launchd agents.

# Where podmine's agents keep their files (macOS conventions).
AGENTS_DIR="$HOME/Library/LaunchAgents"
SUPPORT_DIR="$HOME/Library/Application Support/podmine"
LOG_DIR="$HOME/Library/Logs/podmine"

die() { echo "error: $*" >&2; exit 1; }

xml_escape() {
  local s=$1
  s=${s//&/&amp;}; s=${s//</&lt;}; s=${s//>/&gt;}
  printf '%s' "$s"
}

# env_value FILE KEY: KEY's value in a KEY=value file, one level of single quotes removed.
env_value() {
  local line
  line=$(grep -E "^$2=" "$1" | tail -n 1) || return 0
  line=${line#*=}
  line=${line#\'}; line=${line%\'}
  printf '%s' "$line"
}

# fill TEMPLATE OUT KEY=VALUE...: replaces each @KEY@ (and a `<!-- @KEY@ -->`
# placeholder) with VALUE, XML-escaped unless KEY ends in _XML; refuses to
# leave one unfilled.
fill() {
  local template=$1 out=$2 text key value
  shift 2
  text=$(cat "$template")
  for pair in "$@"; do
    key=${pair%%=*}; value=${pair#*=}
    [[ $key == *_XML ]] || value=$(xml_escape "$value")
    text=${text//"<!-- @$key@ -->"/"$value"}
    text=${text//"@$key@"/"$value"}
  done
  if grep -qE '@[A-Z_]+@' <<<"$text"; then
    die "$template: unfilled values: $(grep -oE '@[A-Z_]+@' <<<"$text" | sort -u | tr '\n' ' ')"
  fi
  # Owner-only: the plist may hold a password or its hash.
  (umask 077; printf '%s\n' "$text" >"$out.tmp") && mv "$out.tmp" "$out"
  chmod 600 "$out"
}

# reload_agent LABEL PLIST: (re)loads the agent; safe to run again.
reload_agent() {
  local domain="gui/$(id -u)"
  command -v launchctl >/dev/null || die "launchctl not found: these scripts are for macOS (see deploy/systemd/ on Linux)"
  launchctl bootout "$domain/$1" 2>/dev/null || true
  launchctl bootstrap "$domain" "$2" || die "launchctl bootstrap $domain $2 failed (see: launchctl print $domain/$1)"
  launchctl enable "$domain/$1"
}
