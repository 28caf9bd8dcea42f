#!/usr/bin/env bash
# Runs every test of the solution on this machine and ends with a line "N passed, N failed".
# Installs what the tests need when it is missing (Debian packages): redis-server for the Redis tests, chromium for
# the browser tests, and nodejs with npm for the JavaScript client's tests (clients/js). Exits non-zero when a test
# fails, when the run breaks, or when no test ran.
set -uo pipefail
cd "$(dirname "$0")"

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing missing test dependencies: ${need[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq || exit 1
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}" || exit 1
fi

export MSBUILDDISABLENODEREUSE=1
export DOTNET_CLI_TELEMETRY_OPTOUT=1
log=$(mktemp)
trap 'rm -f "$log"' EXIT

dotnet build WebSocketPool.sln -nologo -v:minimal || { echo "0 passed, 1 failed"; exit 1; }

# One test assembly at a time (-m:1): the socket-heavy suites must not compete for a small machine's cores.
# A hung test host is killed (and the run failed) rather than left to stall the run.
dotnet test WebSocketPool.sln --no-build -nologo -m:1 --blame-hang-timeout 5m \
  --logger "console;verbosity=normal" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# Each assembly ends with "Total tests: N" then "Passed: N" / "Failed: N" lines (normal verbosity), or with one
# "Passed!  - Failed: N, Passed: N, ..." line (minimal verbosity): sum whichever appears.
read -r passed failed < <(awk '
  /(Passed|Failed)! +- +Failed: +[0-9]+, +Passed: +[0-9]+/ {
    for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1) + 0; if ($i == "Passed:") p += $(i+1) + 0 }
    next
  }
  /^[[:space:]]+Passed:[[:space:]]+[0-9]+[[:space:]]*$/ { p += $2 }
  /^[[:space:]]+Failed:[[:space:]]+[0-9]+[[:space:]]*$/ { f += $2 }
  END { print p + 0, f + 0 }' "$log")

# The JavaScript client (clients/js): install its locked dev dependencies, type-check (and emit its declarations),
# then its tests, which start the samples built above. Node's test runner ends with "# pass N" / "# fail N" (TAP).
js_log=$(mktemp)
trap 'rm -f "$log" "$js_log"' EXIT
echo "== clients/js: npm ci, type check, npm test"
(
  cd clients/js &&
  npm ci --no-audit --no-fund &&
  npm run build &&
  timeout -k 10 900 npm test  # bounded: a test process that never exits fails the run rather than stalling it
) 2>&1 | tee "$js_log"
js_status=${PIPESTATUS[0]}
read -r js_passed js_failed < <(awk '
  /^# pass [0-9]+$/ { p = $3 }
  /^# fail [0-9]+$/ { f = $3 }
  END { print p + 0, f + 0 }' "$js_log")
if [ "$js_status" -ne 0 ] && [ "$js_failed" -eq 0 ]; then
  js_failed=1  # npm ci, the type check or the runner broke without a failing test to count
fi
passed=$((passed + js_passed))
failed=$((failed + js_failed))

# Repeat each failing test with its message and the top of its stack at the end, where a short log tail shows it.
if grep -qE '^[[:space:]]+Failed [A-Za-z_]' "$log" || grep -qE '^ *not ok ' "$js_log"; then
  echo "== failing tests"
fi
if grep -qE '^[[:space:]]+Failed [A-Za-z_]' "$log"; then
  awk '
    /^[[:space:]]+Failed [A-Za-z_]/ { show = 1; stack = 0 }
    /^[[:space:]]+(Passed|Skipped) [A-Za-z_]/ { show = 0 }
    /^[[:space:]]+Stack Trace:/ { stack = 1; lines = 0 }
    show && stack && lines++ > 6 { show = 0 }
    show { print }' "$log"
fi
if grep -qE '^ *not ok ' "$js_log"; then
  echo "clients/js:"
  grep -E '^ *not ok |^ *(error|location):' "$js_log"
fi

if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1  # the run broke (build, crash or hang) without a failing test to count
fi
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$js_status" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
