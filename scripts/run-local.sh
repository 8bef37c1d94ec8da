#!/usr/bin/env bash
# Runs the whole API on http://127.0.0.1:9000 with `cargo lambda watch`, the
# same routes as API Gateway. Needs a MySQL or MariaDB at DATABASE_URL
# (default: root on 127.0.0.1:3306, database `messaging`, created if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

export DATABASE_URL="${DATABASE_URL:-mysql://root@127.0.0.1:3306/messaging}"
hostport="${DATABASE_URL#*://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$host" ] && port=3306
if ! (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
  echo "No database answers at $host:$port: start one with 'docker compose up -d db', or set DATABASE_URL to a MySQL 8 / MariaDB 10.6+ server." >&2
  exit 1
fi

if ! cargo lambda --version >/dev/null 2>&1; then
  echo "Installing cargo-lambda from PyPI..." >&2
  python3 -m pip install --quiet cargo-lambda
  PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
fi

if [ -z "${JWT_SECRET:-}" ]; then
  JWT_SECRET="dev-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  export JWT_SECRET
  echo "JWT_SECRET is not set: using a development secret made up for this run." >&2
fi
export REQUEST_LOG_FILE="${REQUEST_LOG_FILE:-$PWD/user_requests.log}"

cargo run --quiet -p migrate
exec cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "${PORT:-9000}" --disable-cors
