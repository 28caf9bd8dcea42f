#!/usr/bin/env bash
# Runs the cluster benchmark (three nodes on one Redis, SignalR's backplane against WebSocketPool.Redis) and writes
# benchmarks/results/cluster-latest.{json,md,svg}.
#
#   benchmarks/run-cluster.sh [--quick | --full] [--modes signalr,pool] [--artifacts DIR] [--note TEXT]
#
#   --quick        (default) 1,000 idle connections per node, short windows, one repetition: about 2.5 minutes.
#   --full         15,000 idle connections per node (45,000 in all), 30 s idle windows, 3 repetitions: about 10
#                  minutes. Needs about 4 GB of memory and 16,000 open files per process.
#   --modes        run a subset (the report shows what it finds).
#   --sizes S,L    idle connections per node at the two idle measurements (default 100,1000 quick; 1000,15000 full).
#   --artifacts    build output, raw results and Redis's working folders (default /tmp/websocketpool-bench-cluster);
#                  never inside the repository.
#   --note TEXT    a remark on the conditions, printed with the results (e.g. "machine shared with a build").
#
# Everything runs on 127.0.0.1: a fresh redis-server per server mode (on a free port, --save "" --appendonly no),
# three LoadHarness.Server nodes, and LoadHarness.Client with its child client processes. The run is bounded in time
# (15 minutes quick, 45 minutes full) and every process it started is stopped at the end, also on Ctrl-C or a
# failure. Benchmarks never fail a build on a timing: the exit code is non-zero only when a step could not run.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=quick
modes=
sizes=
artifacts=/tmp/websocketpool-bench-cluster
note=
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --modes) modes="$2"; shift ;;
    --sizes) sizes="$2"; shift ;;
    --artifacts) artifacts="$2"; shift ;;
    --note) note="$2"; shift ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done

redis_server=/usr/bin/redis-server
if [ ! -x "$redis_server" ]; then
  echo "$redis_server is missing: install it with 'apt-get install -y redis-server'." >&2
  exit 2
fi
command -v ss >/dev/null || echo "ss (iproute2) is missing: bus bytes per node will not be measured."

# A node holds 15,000 sockets in full mode and each client process up to 9,000: ask for the most the machine allows.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
files=$(ulimit -n)
echo "open files limit: $files"
if [ "$mode" = full ] && [ "$files" -lt 16000 ]; then
  echo "full mode needs at least 16,000 open files per process (a node holds 15,000 sockets); raise the hard limit." >&2
  exit 2
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
for project in benchmarks/LoadHarness.Server benchmarks/LoadHarness.Client; do
  dotnet build "$project" -c Release --artifacts-path "$artifacts" -v quiet -nologo
done

bin="$artifacts/bin"
raw="$artifacts/raw-cluster"
rm -rf "$raw"
mkdir -p "$raw"
client="$bin/LoadHarness.Client/release/LoadHarness.Client.dll"

cluster_args=(cluster --server "$bin/LoadHarness.Server/release/LoadHarness.Server.dll" --out "$raw" --redis-server "$redis_server" "--$mode")
[ -n "$modes" ] && cluster_args+=(--modes "$modes")
[ -n "$sizes" ] && cluster_args+=(--small-per-node "${sizes%,*}" --large-per-node "${sizes#*,}")
limit=15m
[ "$mode" = full ] && limit=45m

# timeout runs the client in a process group of its own, with everything it starts (nodes, redis-server, client
# processes), and signals the whole group when the limit is reached; the trap does the same on Ctrl-C or an error.
timeout --kill-after=30s "$limit" dotnet "$client" "${cluster_args[@]}" &
group=$!
stop() { kill -TERM -- "-$group" 2>/dev/null || true; sleep 2; kill -KILL -- "-$group" 2>/dev/null || true; }
trap 'stop; exit 130' INT TERM
trap stop EXIT
status=0
wait "$group" || status=$?
trap - EXIT
stop
[ "$status" -eq 124 ] && echo "the cluster run hit its time limit ($limit); reporting what it finished." >&2

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
report_args=(cluster-report --raw "$raw" --out benchmarks/results --readme benchmarks/README.md --commit "$commit")
[ -n "$note" ] && report_args+=(--note "$note")
dotnet "$client" "${report_args[@]}" > /dev/null
echo "wrote benchmarks/results/cluster-latest.json, cluster-latest.md, cluster-latest.svg"
exit "$status"
