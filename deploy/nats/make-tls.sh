#!/usr/bin/env bash
# A self-signed CA and a server certificate for nats-server (docs/fleet-on-macs.md, TLS).
#
#   deploy/nats/make-tls.sh ~/.config/podmine/tls mac-a.local 192.168.1.10
#
# Writes ca.pem (give it to every worker and the coordinator: --tls-ca ca.pem),
# ca-key.pem (keep it safe; it signs new server certificates), server.pem and
# server-key.pem (for the tls block of the nats-server config). The names are
# the host names and IP addresses clients use in NATS_URL. Valid 825 days.
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,10p' "$0"; exit 1; }
dir=$1; shift
command -v openssl >/dev/null || { echo "error: openssl is needed" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"
umask 077
sans=""
for name in "$@"; do
  if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then sans+="IP:$name,"; else sans+="DNS:$name,"; fi
done
sans=${sans%,}
if [ ! -f ca.pem ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=podmine NATS CA" \
    -keyout ca-key.pem -out ca.pem 2>/dev/null
fi
openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout server-key.pem -out server.csr 2>/dev/null
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$sans" >server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 825 \
  -extfile server.ext -out server.pem 2>/dev/null
rm -f server.csr server.ext ca.srl
chmod 644 ca.pem server.pem
echo "wrote $dir/{ca.pem,ca-key.pem,server.pem,server-key.pem} for: $sans"
