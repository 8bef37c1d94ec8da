#!/usr/bin/env bash
# Schema fuzzing: schemathesis generates at least 200 requests for every
# operation of docs/openapi.json (valid and invalid ones, and stateful
# sequences), authenticated, against the functions' handler services over
# HTTP on a fresh database, and fails on any 5xx or any response that does
# not match the document.
#
# It runs the handlers in `bench serve` rather than under `cargo lambda
# watch`: the watch emulator itself answers 500, without invoking the
# function, to a request body that is not UTF-8 under a JSON content type,
# which API Gateway would hand over base64-encoded.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

python3 -c 'import schemathesis' 2>/dev/null || python3 -m pip install --quiet schemathesis
server="${BENCH_DATABASE_SERVER:-mysql://root@127.0.0.1:3306}"
database="messaging_fuzz"
port="${FUZZ_PORT:-18181}"
base="http://127.0.0.1:$port"

cargo build --quiet -p bench -p migrate
# Uploads are signed for, and attachments checked in, real storage.
if ! (exec 3<>"/dev/tcp/127.0.0.1/${STORAGE_PORT:-8333}") 2>/dev/null; then
  ./scripts/storage.sh
  started_storage=1
fi
mariadb -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS $database"
DATABASE_URL="$server/$database" target/debug/migrate
BENCH_DATABASE_SERVER="$server" BENCH_DATABASE="$database" BENCH_PORT="$port" target/debug/bench serve &
pid=$!
trap 'kill "$pid" 2>/dev/null; rm -rf "${scratch:-}"; [ -z "${started_storage:-}" ] || "$root/scripts/storage.sh" stop || true; mariadb -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS $database" || true' EXIT
for _ in $(seq 1 100); do
  curl -s -o /dev/null "$base/api/health" && break
  sleep 0.1
done

account='{"email": "fuzz@example.org", "password": "correct horse battery staple", "username": "fuzz"}'
curl -s -o /dev/null -X POST "$base/api/auth/register" -H 'content-type: application/json' -d "$account"
token=$(curl -s -X POST "$base/api/auth/login" -H 'content-type: application/json' \
  -d '{"email": "fuzz@example.org", "password": "correct horse battery staple"}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

# From a scratch directory: the tool keeps a cache in its working directory,
# which must stay out of the work tree (a watched tree restarts on changes).
scratch=$(mktemp -d)
spec="$PWD/docs/openapi.json"
cd "$scratch"
schemathesis run "$spec" --url "$base" -H "Authorization: Bearer $token" \
  --max-examples 200 --seed "${FUZZ_SEED:-20261123}" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance
