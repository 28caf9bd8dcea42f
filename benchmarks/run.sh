#!/usr/bin/env bash
# Runs the side-by-side benchmark suite and writes benchmarks/results/latest.{json,md,svg}.
#
#   benchmarks/run.sh [--quick | --full] [--repetitions N] [--no-micro] [--artifacts DIR] [--results DIR]
#                     [--quiet-wait SECONDS] [--no-pin] [--growth-rounds N] [--note TEXT]
#
#   --quick        (default) smaller N, short scenarios, one run per server: a smoke run of a few minutes.
#   --full         10,000 idle connections, a 19,000 cap, longer scenarios, 3 interleaved runs per server.
#   --no-micro     skip the BenchmarkDotNet micro-benchmarks.
#   --artifacts    build output and raw results (default /tmp/websocketpool-bench); never inside the repository.
#   --note TEXT    a remark on the conditions, printed with the results (e.g. "machine shared with a build").
#   --results DIR  where latest.{json,md,svg} and growth-latest.svg go (default benchmarks/results, which also
#                  updates the table in benchmarks/README.md; any other directory leaves the repository alone).
#   --quiet-wait S the longest wait before each scenario for the 1-minute load average to fall below 0.5
#                  (default 90 s full, 2 s quick); a figure taken at 0.5 or above is marked noisy.
#   --no-pin       do not pin the server and the client to separate cores with taskset.
#   --growth-rounds N  run the growth curve (ramp to 19,000 connections) in the first N rounds (default 1).
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
results=benchmarks/results
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --repetitions) repetitions="$2"; shift ;;
    --no-micro) micro=0 ;;
    --artifacts) artifacts="$2"; shift ;;
    --note) note="$2"; shift ;;
    --results) results="$2"; shift ;;
    --quiet-wait) extra+=(--quiet-wait "$2"); shift ;;
    --growth-rounds) extra+=(--growth-rounds "$2"); shift ;;
    --no-pin) extra+=(--no-pin) ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done

# The cap scenario holds up to 19,000 sockets in one server process; ask for the most the machine allows.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "open files limit: $(ulimit -n)"
if [ "$mode" = full ] && [ "$(ulimit -n)" -lt 19500 ]; then
  echo "the growth curve and the cap need about 19,300 open files in the server; the limit is $(ulimit -n)" >&2
  exit 2
fi
if command -v taskset > /dev/null; then
  echo "pinning with $(command -v taskset): server on CPU 0, client on the others (unless --no-pin)"
else
  echo "taskset (util-linux) not found: nothing is pinned, and the report says so"
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
# Tier-up counting from the start, for the client and (set by the suite) every server: figures for the steady state,
# not for code still running unoptimized (LoadHarness.Client/SteadyStateJit.cs).
export DOTNET_TC_CallCountingDelayMs=0
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
suite_args+=("${extra[@]}")
client="$bin/LoadHarness.Client/release/LoadHarness.Client.dll"
started=$(date +%s)
dotnet "$client" "${suite_args[@]}"
echo "suite took $(( ($(date +%s) - started) / 60 )) min $(( ($(date +%s) - started) % 60 )) s"

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
report_args=(report --raw "$raw" --out "$results" --commit "$commit")
[ "$results" = benchmarks/results ] && report_args+=(--readme benchmarks/README.md)
[ -n "$micro_file" ] && [ -f "$micro_file" ] && report_args+=(--micro "$micro_file")
[ -n "$footprint_file" ] && [ -f "$footprint_file" ] && report_args+=(--footprint "$footprint_file")
[ -n "$note" ] && report_args+=(--note "$note")
dotnet "$client" "${report_args[@]}" > /dev/null
echo "wrote $results/latest.json, latest.md, latest.svg (and growth-latest.svg)"
