#!/usr/bin/env bash
# The browser tests: the web client in headless Chromium (Debian's, driven by
# playwright-core), two people at once through the whole local stack of
# ./scripts/run-local.sh on its own ports and a fresh database. Screenshots
# of every step go to target/browser-screenshots/.
# --install only installs what the tests need (Chromium, playwright-core).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

chromium="${CHROMIUM:-/usr/bin/chromium}"
# The emoji font draws the reactions in the screenshots.
if [ ! -x "$chromium" ] || ! dpkg -s fonts-noto-color-emoji >/dev/null 2>&1; then
  echo "Installing Chromium and an emoji font from Debian's packages for the browser tests..." >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null
fi
# The locked playwright-core asks for Node.js 20 or later.
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null; then
  echo "The browser tests need Node.js 20 or later with npm (https://nodejs.org)." >&2
  exit 1
fi
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  echo "Installing playwright-core from npm (package-lock.json)..." >&2
  npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
fi
[ "${1:-}" != --install ] || exit 0

. scripts/database.sh
trap stop_database EXIT
ensure_database TEST_DATABASE_URL test
server="${TEST_DATABASE_URL%/*}"
database="messaging_browser"
http_port="${BROWSER_TEST_PORT:-19300}"
ws_port=$((http_port + 1))
web_port=$((http_port + 2))
database_client "$server" -e "DROP DATABASE IF EXISTS $database"

shots="$root/target/browser-screenshots"
rm -rf "$shots" && mkdir -p "$shots"
log="$root/target/browser-test-stack.log"

# Short-lived access tokens, so the test sees one expire while the page is
# open, and a send rate that lets it write a long history at once.
DATABASE_URL="$server/$database" PORT="$http_port" WEBSOCKET_PORT="$ws_port" WEB_PORT="$web_port" \
  ACCESS_TOKEN_TTL_SECONDS=15 SEND_RATE_LIMIT=1000 REQUEST_LOG_FILE="$root/target/browser-test-requests.log" \
  ./scripts/run-local.sh >"$log" 2>&1 &
stack=$!
trap 'kill "$stack" 2>/dev/null || true; wait "$stack" 2>/dev/null || true; database_client "$server" -e "DROP DATABASE IF EXISTS $database" || true; stop_database' EXIT

for _ in $(seq 1 600); do
  grep -q '^Ready:' "$log" && break
  kill -0 "$stack" 2>/dev/null || { cat "$log" >&2; echo "The local stack did not start." >&2; exit 1; }
  sleep 0.5
done
grep -q '^Ready:' "$log" || { cat "$log" >&2; echo "The local stack was not ready within 5 minutes." >&2; exit 1; }

status=0
WEB_URL="http://127.0.0.1:$web_port" STACK_PID="$stack" CHROMIUM="$chromium" SCREENSHOT_DIR="$shots" \
  node --test --test-reporter=spec tests/browser/chat.test.js || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- the local stack's output (target/browser-test-stack.log), last 60 lines:" >&2
  tail -n 60 "$log" >&2
fi
exit "$status"
