#!/usr/bin/env bash
# Packs WebSocketPool, WebSocketPool.Redis and WebSocketPool.Client with one unique pre-release version (0.1.0-local.<UTC time>) into
# artifacts/packages, so an app that references this version can never get a stale package from the NuGet cache.
# Usage: bash eng/pack-local.sh [output-folder]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="0.1.0-local.$(date -u +%Y%m%d%H%M%S)"
out="${1:-$root/artifacts/packages}"
for project in WebSocketPool WebSocketPool.Redis WebSocketPool.Client; do
  dotnet pack "$root/src/$project/$project.csproj" -c Release -o "$out" -p:Version="$version" -nologo -v:minimal
done
echo "Packed $version into $out"
echo "Reference it with: dotnet add package WebSocketPool --version $version --source $out"
