#!/usr/bin/env bash
# The benchmark, one command: seeds a `messaging_bench` database on the MySQL
# or MariaDB at BENCH_DATABASE_SERVER (default mysql://root@127.0.0.1:3306),
# loads the handlers with wrk, and writes docs/BENCHMARKS.md and
# docs/benchmarks.svg. About 10 minutes after the release build. Each load
# point is run `--runs N` times (default 3) for `--seconds N` (default 5) and
# the run with the median requests per second is reported.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
  echo "Installing wrk from Debian's packages..." >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --workspace --bins
# Uploads and attachments go to the local S3-compatible server, stopped at
# the end when this run started it.
if ! (exec 3<>"/dev/tcp/127.0.0.1/${STORAGE_PORT:-8333}") 2>/dev/null; then
  started_storage=1
fi
./scripts/storage.sh
trap '[ -z "${started_storage:-}" ] || ./scripts/storage.sh stop || true' EXIT
target/release/bench run "$@"
