#!/bin/bash
# Make the Docker stack's certificates once, before `docker compose up` (needs openssl):
#   ./docker/certs/make-certs.sh            # reads KAFKA_KEYSTORE_PASSWORD from ./.env
# Writes docker/certs/out/ (gitignored): a CA, Elasticsearch's and Kafka's server certificates
# (names: elasticsearch, kafka, localhost, 127.0.0.1), and one client certificate per Kafka
# user (admin, feeds, roster, worker, review) as PEM and as PKCS12 for the Java tools.
# Keys are mode 0600. Existing files are kept: delete docker/certs/out to start again.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="${TRACER_CERTS_OUT:-$here/out}"  # TRACER_CERTS_OUT: elsewhere (tests)
if [ -f "$root/.env" ]; then set -a; source "$root/.env"; set +a; fi
source "$root/docker/kafka/secrets.sh"
require_secret KAFKA_KEYSTORE_PASSWORD
umask 077
mkdir -p "$out/ca" "$out/kafka" "$out/elasticsearch" "$out/clients"
days=825
if [ ! -f "$out/ca/ca.key" ]; then
  openssl req -x509 -newkey rsa:3072 -nodes -days "$days" -subj "/CN=tracer stack CA" \
    -keyout "$out/ca/ca.key" -out "$out/ca/ca.crt"
fi
issue() {  # name, subject alternative names, folder
  local name="$1" sans="$2" dir="$3"
  [ -f "$dir/$name.crt" ] && return 0
  openssl req -newkey rsa:3072 -nodes -subj "/CN=$name" -keyout "$dir/$name.key" \
    -out "$dir/$name.csr"
  openssl x509 -req -in "$dir/$name.csr" -CA "$out/ca/ca.crt" -CAkey "$out/ca/ca.key" \
    -CAcreateserial -days "$days" -out "$dir/$name.crt" \
    -extfile <(printf 'subjectAltName=%s\n' "$sans")
  rm -f "$dir/$name.csr"
  openssl pkcs12 -export -in "$dir/$name.crt" -inkey "$dir/$name.key" -name "$name" \
    -out "$dir/$name.p12" -passout "pass:$KAFKA_KEYSTORE_PASSWORD"
}
issue kafka "DNS:kafka,DNS:localhost,IP:127.0.0.1" "$out/kafka"
issue elasticsearch "DNS:elasticsearch,DNS:localhost,IP:127.0.0.1" "$out/elasticsearch"
for user in admin feeds roster worker review; do
  issue "$user" "DNS:$user" "$out/clients"
done
cp "$out/ca/ca.crt" "$out/kafka/ca.crt"
cp "$out/clients/admin.p12" "$out/kafka/admin.p12"
cp "$out/ca/ca.crt" "$out/elasticsearch/ca.crt"
cp "$out/ca/ca.crt" "$out/clients/ca.crt"
# out/ itself is 0700 (umask): no other user of this machine can reach the keys. Inside it the
# files are readable by all, since each container mounts its folder and runs as its own user;
# the CA's key is never mounted.
chmod 755 "$out/kafka" "$out/elasticsearch" "$out/clients"
chmod 644 "$out"/kafka/* "$out"/elasticsearch/* "$out"/clients/*
echo "certificates in $out"
