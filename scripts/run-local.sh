#!/usr/bin/env bash
# Runs the whole product on one machine: the HTTP API on http://127.0.0.1:9000
# (`cargo lambda watch`, the same routes as API Gateway) and the WebSocket API
# on ws://127.0.0.1:9001 (the local gateway, API Gateway's protocol, invoking
# the realtime function). The local gateway also serves the SQS delivery
# queue on the same address and hands its messages to the fan-out function,
# as Lambda's SQS trigger does in the cloud. Attachments go to an
# S3-compatible server that checks signatures, SeaweedFS on
# http://127.0.0.1:8333 (`scripts/storage.sh`, started unless one answers
# there, and stopped at the end if this run started it), in the bucket
# ATTACHMENT_BUCKET (default `messaging-local`, created if missing). The web
# client in web/ is served on http://127.0.0.1:9002, with a config.json that
# points it at this run's HTTP API. Needs a MySQL or MariaDB at DATABASE_URL
# (default: root on 127.0.0.1:3306, database `messaging`, created if missing).
# PORT, WEBSOCKET_PORT, STORAGE_PORT and WEB_PORT move the four addresses.
#
# SIGUSR1 stops the local gateway for GATEWAY_OUTAGE_SECONDS (default 3) and
# starts it again: every WebSocket is cut as by a network drop, and clients
# reconnect and catch up (the browser tests use it).
set -euo pipefail
cd "$(dirname "$0")/.."

http_port="${PORT:-9000}"
ws_port="${WEBSOCKET_PORT:-9001}"
storage_port="${STORAGE_PORT:-8333}"
web_port="${WEB_PORT:-9002}"

# DATABASE_URL, or a server this run starts when none answers (scripts/database.sh).
. scripts/database.sh
trap stop_database EXIT
ensure_database DATABASE_URL messaging

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
# Tickets point clients at the local gateway, and the publishing functions post
# to its Management API. The AWS SDK signs every request, so it needs some
# credentials; the local gateway checks no signature, but the local storage
# does: the default credentials are those of the one identity in
# scripts/seaweedfs-s3.json.
export WEBSOCKET_URL="${WEBSOCKET_URL:-ws://127.0.0.1:$ws_port}"
export WEBSOCKET_MANAGEMENT_URL="${WEBSOCKET_MANAGEMENT_URL:-http://127.0.0.1:$ws_port}"
export DELIVERY_QUEUE_URL="${DELIVERY_QUEUE_URL:-http://127.0.0.1:$ws_port/000000000000/delivery.fifo}"
export DELIVERY_QUEUE_ENDPOINT="${DELIVERY_QUEUE_ENDPOINT:-http://127.0.0.1:$ws_port}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local-secret-for-tests-only}"
# Upload forms and download URLs name this endpoint, path-style.
export ATTACHMENT_BUCKET="${ATTACHMENT_BUCKET:-messaging-local}"
export ATTACHMENT_ENDPOINT="${ATTACHMENT_ENDPOINT:-http://127.0.0.1:$storage_port}"
# The origin a local web page is served from: answered with CORS, and the
# only page origin the WebSocket accepts.
export CORS_ALLOWED_ORIGINS="${CORS_ALLOWED_ORIGINS:-http://127.0.0.1:$web_port}"

# Everything is built up front, with cargo's own progress, so no function
# compiles silently on its first request. Each function is built as `cargo
# lambda watch` runs it (`cargo run --bin NAME`), so the build is reused.
echo "Building the functions and the local gateway..." >&2
for bin in auth conversations messages realtime fanout; do
  cargo build --bin "$bin"
done
cargo build --bin migrate --bin local-gateway
./target/debug/migrate

pids=()
stop() {
  for pid in "${pids[@]}" "${gateway:-}"; do [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -z "${started_storage:-}" ] || ./scripts/storage.sh stop
  stop_database
}
trap stop EXIT
trap 'exit 130' INT TERM

# The storage, before the functions that sign for it, and its bucket.
if ! (exec 3<>"/dev/tcp/127.0.0.1/$storage_port") 2>/dev/null; then
  started_storage=1
fi
STORAGE_PORT="$storage_port" ./scripts/storage.sh
./scripts/storage.sh bucket "$ATTACHMENT_BUCKET"

# The web client's files with this run's config beside them, outside the
# watched work tree.
site=target/web-client
rm -rf "$site" && mkdir -p "$site"
for file in web/*; do ln -s "$PWD/$file" "$site/"; done
printf '{"api_url": "http://127.0.0.1:%s"}\n' "$http_port" >"$site/config.json"

cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$http_port" --disable-cors &
pids+=($!)
python3 -m http.server --bind 127.0.0.1 --directory "$site" "$web_port" >/dev/null 2>&1 &
pids+=($!)
start_gateway() {
  GATEWAY_ADDRESS="127.0.0.1:$ws_port" LAMBDA_INVOKE_URL="http://127.0.0.1:$http_port" \
    DELIVERY_QUEUE_NAME="${DELIVERY_QUEUE_URL##*/}" ./target/debug/local-gateway &
  gateway=$!
}
start_gateway
restart_gateway=
trap 'restart_gateway=1' USR1

# Ready once the health check answers through the HTTP API and the gateway
# accepts connections.
for _ in $(seq 1 600); do
  for pid in "${pids[@]}" "$gateway"; do
    kill -0 "$pid" 2>/dev/null || { echo "A server stopped during start-up (see above)." >&2; exit 1; }
  done
  if curl -fs "http://127.0.0.1:$http_port/api/health" >/dev/null 2>&1 \
    && curl -fs "http://127.0.0.1:$web_port/config.json" >/dev/null 2>&1 \
    && (exec 3<>"/dev/tcp/127.0.0.1/$ws_port") 2>/dev/null; then
    echo
    echo "Ready:"
    echo "  Web client http://127.0.0.1:$web_port"
    echo "  HTTP API   http://127.0.0.1:$http_port"
    echo "  WebSocket  ws://127.0.0.1:$ws_port  (open the URL from POST /api/realtime/tickets)"
    echo "  Storage    $ATTACHMENT_ENDPOINT/$ATTACHMENT_BUCKET  (attachments)"
    echo "Ctrl-C stops what this run started."
    while true; do
      # A signal ends the wait early: then only a restart is due.
      wait -n "${pids[@]}" "$gateway" && status=0 || status=$?
      if [ -n "$restart_gateway" ]; then
        restart_gateway=
        echo "Stopping the local gateway for ${GATEWAY_OUTAGE_SECONDS:-3} s: every WebSocket is cut." >&2
        kill "$gateway" 2>/dev/null || true
        wait "$gateway" 2>/dev/null || true
        sleep "${GATEWAY_OUTAGE_SECONDS:-3}"
        start_gateway
        continue
      fi
      echo "A server stopped (status $status): stopping the rest." >&2
      exit 1
    done
  fi
  sleep 0.5
done
echo "The servers did not answer within 5 minutes." >&2
exit 1
