#!/usr/bin/env bash
# Runs every test: unit tests, handler tests from API Gateway events, and
# integration tests, each on a fresh database of the MySQL or MariaDB server
# at TEST_DATABASE_URL (default: root on 127.0.0.1:3306, database `test`),
# then the browser tests (scripts/browser-test.sh). Arguments go to `cargo
# test` and leave the browser tests out.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# TEST_DATABASE_URL, or a server this run starts when none answers
# (scripts/database.sh).
. scripts/database.sh
trap stop_database EXIT
ensure_database TEST_DATABASE_URL test
url=$TEST_DATABASE_URL

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
trap 'rm -f "$log"; [ -z "${started_storage:-}" ] || "$root/scripts/storage.sh" stop || true; stop_database' EXIT
set +e
cargo test --workspace "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
browser_status=0
if [ $# -eq 0 ]; then
  set +e
  ./scripts/browser-test.sh 2>&1 | tee -a "$log"
  browser_status=${PIPESTATUS[0]}
  set -e
fi
# One closing line for the whole run, summed over every test binary and the
# browser tests.
awk '/^test result:/ { p += $4; f += $6 }
  /^ℹ pass / { p += $3 } /^ℹ fail / { f += $3 }
  END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
[ "$status" -ne 0 ] || status=$browser_status
exit "$status"
