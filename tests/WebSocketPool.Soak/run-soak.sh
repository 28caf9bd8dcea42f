#!/usr/bin/env bash
# Copyright (c) WebSocketPool contributors. Licensed under the MIT License.
#
# Soak run: builds EchoServer and the soak tool in Release, starts EchoServer on a free loopback port, drives it for
# DURATION seconds (default 60) with the soak tool, stops the server, and exits with the soak tool's status:
#   0  pass: no lease left, every echo right, every close code and refusal the expected one, no unexpected exception
#   1  a check failed; the soak's last line says which, with counts:
#        result: FAIL — <failed checks> (leases left N, echo mismatches N, unexpected close codes N,
#                                         failed handshakes N, unexpected exceptions N)
#   2  the server could not be reached; 3  the server died (or did not start)
#
# What the soak expects (details at the top of SoakRunner.cs):
#   - upgrade: 101, or a refusal 429 user_limit|rate_limited / 503 global_limit with a problem+json body; any other
#     status or body (500, 401, 403, 503 draining), a reset or early end, or no answer in 30 s is a failed handshake
#   - message: its echo; a close frame instead is an unexpected close code (except 4001 under EvictOldest)
#   - client close 1000: the server answers 1000 (or 4001 under EvictOldest)
#   - bad frames: 1002 (protocol error) or 1007 (invalid UTF-8), or a dropped connection without a close frame
#   - 1011 (handler failed) and 1001 (draining) are never expected; client-loop exceptions are counted by type and
#     the first five printed with their stack
#   Every wait has a deadline (30 s); nothing fails because the machine is slow.
#
#   tests/WebSocketPool.Soak/run-soak.sh [DURATION] [extra soak options, e.g. --users 50 --max-connections 200]
#
# WSP_SOAK_OVERFLOW_POLICY=Reject|EvictOldest (default Reject) sets the server's WebSocketPool:OverflowPolicy and
# tells the soak which per-user overflow answer to expect (429 refusals, or 4001 on the evicted connection).
# Build output goes to $WSP_SOAK_ARTIFACTS (default /tmp/wsp-art-soak).
set -euo pipefail

duration="${1:-60}"
shift || true
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
artifacts="${WSP_SOAK_ARTIFACTS:-/tmp/wsp-art-soak}"
policy="${WSP_SOAK_OVERFLOW_POLICY:-Reject}"
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
  --WebSocketPool:OverflowPolicy="$policy" \
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

echo "== soak for ${duration} s (overflow policy $policy)"
status=0
dotnet "$artifacts/bin/WebSocketPool.Soak/release/WebSocketPool.Soak.dll" \
  --url "$url" --duration "$duration" --users 50 --max-connections 200 --pid "$server_pid" --overflow-policy "$policy" "$@" || status=$?

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
