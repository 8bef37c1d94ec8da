#!/usr/bin/env bash
# Runs every test: unit tests, handler tests from API Gateway events, and
# integration tests, each on a fresh database of the MySQL or MariaDB server
# at TEST_DATABASE_URL (default: root on 127.0.0.1:3306, database `test`).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

url="${TEST_DATABASE_URL:-mysql://root@127.0.0.1:3306/test}"
hostport="${url#*://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$host" ] && port=3306
if ! (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
  echo "No MySQL or MariaDB answers at $host:$port. Start one (docker compose up -d db, or your own server) or set TEST_DATABASE_URL." >&2
  exit 1
fi

# The Secrets Manager tests run the real AWS SDK against moto on 127.0.0.1.
if ! python3 -c 'import moto.server' 2>/dev/null; then
  echo "Installing moto[server] from PyPI for the Secrets Manager tests..." >&2
  python3 -m pip install --quiet 'moto[server]'
fi

# Attachments go to a real S3-compatible server that checks signatures.
if ! (exec 3<>"/dev/tcp/127.0.0.1/${STORAGE_PORT:-8333}") 2>/dev/null; then
  ./scripts/storage.sh
  started_storage=1
fi

# sqlx's test harness creates one database per test through this URL.
export DATABASE_URL="$url"
# The Runtime API tests run the real function binaries.
cargo build --workspace --bins
log=$(mktemp)
trap 'rm -f "$log"; [ -z "${started_storage:-}" ] || "$root/scripts/storage.sh" stop || true' EXIT
set +e
cargo test --workspace "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
