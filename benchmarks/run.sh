#!/usr/bin/env bash
# Runs the side-by-side benchmark suite and writes benchmarks/results/latest.{json,md,svg}.
#
#   benchmarks/run.sh [--quick | --full] [--repetitions N] [--no-micro] [--artifacts DIR]
#
#   --quick        (default) smaller N, short scenarios, one run per server: a smoke run of a few minutes.
#   --full         10,000 idle connections, a 19,000 cap, longer scenarios, 3 interleaved runs per server.
#   --no-micro     skip the BenchmarkDotNet micro-benchmarks.
#   --artifacts    build output and raw results (default /tmp/websocketpool-bench); never inside the repository.
#   --note TEXT    a remark on the conditions, printed with the results (e.g. "machine shared with a build").
#
# Everything runs on 127.0.0.1 and stops by itself. Benchmarks never fail a build on a timing: the exit code is
# non-zero only when a step could not run at all.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=quick
repetitions=
micro=1
artifacts=/tmp/websocketpool-bench
note=
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --repetitions) repetitions="$2"; shift ;;
    --no-micro) micro=0 ;;
    --artifacts) artifacts="$2"; shift ;;
    --note) note="$2"; shift ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done

# The cap scenario holds up to 19,000 sockets in one server process; ask for the most the machine allows.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "open files limit: $(ulimit -n)"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
for project in benchmarks/LoadHarness.Server benchmarks/LoadHarness.Client benchmarks/WebSocketPool.Benchmarks; do
  dotnet build "$project" -c Release --artifacts-path "$artifacts" -v quiet -nologo
done

bin="$artifacts/bin"
raw="$artifacts/raw"
rm -rf "$raw"
mkdir -p "$raw"

micro_file=
footprint_file=
if [ "$micro" -eq 1 ]; then
  footprint_file="$raw/footprint.json"
  dotnet "$bin/WebSocketPool.Benchmarks/release/WebSocketPool.Benchmarks.dll" --footprint --results "$footprint_file" \
    || echo "footprint measurement failed; continuing"

  micro_file="$raw/micro.json"
  quick_flag=()
  [ "$mode" = quick ] && quick_flag=(--quick)
  dotnet "$bin/WebSocketPool.Benchmarks/release/WebSocketPool.Benchmarks.dll" "${quick_flag[@]}" \
    --results "$micro_file" --artifacts "$artifacts/bdn" || echo "micro-benchmarks reported a failure; continuing"
fi

suite_args=(suite --server "$bin/LoadHarness.Server/release/LoadHarness.Server.dll" --out "$raw")
[ "$mode" = full ] && suite_args+=(--full)
[ -n "$repetitions" ] && suite_args+=(--repetitions "$repetitions")
client="$bin/LoadHarness.Client/release/LoadHarness.Client.dll"
dotnet "$client" "${suite_args[@]}"

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
report_args=(report --raw "$raw" --out benchmarks/results --readme benchmarks/README.md --commit "$commit")
[ -n "$micro_file" ] && [ -f "$micro_file" ] && report_args+=(--micro "$micro_file")
[ -n "$footprint_file" ] && [ -f "$footprint_file" ] && report_args+=(--footprint "$footprint_file")
[ -n "$note" ] && report_args+=(--note "$note")
dotnet "$client" "${report_args[@]}" > /dev/null
echo "wrote benchmarks/results/latest.json, latest.md, latest.svg"
