#!/usr/bin/env bash
# Copyright (c) WebSocketPool contributors. Licensed under the MIT License.
#
# Soak run: builds EchoServer and the soak tool in Release, starts EchoServer on a free loopback port, drives it for
# DURATION seconds (default 60) with the soak tool, stops the server, and exits with the soak tool's status
# (0: no lease left and every echo right; 1: leases left or a wrong echo; 2: server unreachable; 3: server died).
#
#   tests/WebSocketPool.Soak/run-soak.sh [DURATION] [extra soak options, e.g. --users 50 --max-connections 200]
#
# Build output goes to $WSP_SOAK_ARTIFACTS (default /tmp/wsp-art-soak).
set -euo pipefail

duration="${1:-60}"
shift || true
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
artifacts="${WSP_SOAK_ARTIFACTS:-/tmp/wsp-art-soak}"
work="$(mktemp -d)"
server_pid=""

cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== building EchoServer and the soak tool (Release)"
dotnet build "$root/samples/EchoServer/EchoServer.csproj" -c Release --artifacts-path "$artifacts" -nologo -v quiet
dotnet build "$root/tests/WebSocketPool.Soak/WebSocketPool.Soak.csproj" -c Release --artifacts-path "$artifacts" -nologo -v quiet

echo "== starting EchoServer on a free loopback port"
dotnet "$artifacts/bin/EchoServer/release/EchoServer.dll" \
  --urls "http://127.0.0.1:0" \
  --Logging:LogLevel:Default=Warning \
  --Logging:LogLevel:Microsoft.Hosting.Lifetime=Information \
  >"$work/server.log" 2>&1 &
server_pid=$!

url=""
for _ in $(seq 1 300); do
  url="$(grep -o 'Now listening on: http://127\.0\.0\.1:[0-9]*' "$work/server.log" | head -n 1 | sed 's/Now listening on: //' || true)"
  [[ -n "$url" ]] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "EchoServer exited during start-up:" >&2
    cat "$work/server.log" >&2
    exit 3
  fi
  sleep 0.1
done
if [[ -z "$url" ]]; then
  echo "EchoServer did not start listening within 30 s:" >&2
  cat "$work/server.log" >&2
  exit 3
fi
echo "   listening on $url (pid $server_pid)"

echo "== soak for ${duration} s"
status=0
dotnet "$artifacts/bin/WebSocketPool.Soak/release/WebSocketPool.Soak.dll" \
  --url "$url" --duration "$duration" --users 50 --max-connections 200 --pid "$server_pid" "$@" || status=$?

if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "EchoServer died during the soak:" >&2
  tail -n 50 "$work/server.log" >&2
  exit 3
fi

if [[ $status -ne 0 ]]; then
  echo "== server log (last 50 lines)"
  tail -n 50 "$work/server.log"
fi

echo "== soak finished with status $status"
exit "$status"
