#!/usr/bin/env bash
# Fails when src/generated is not exactly what scripts/generate.sh writes from protos/.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
fresh="$(mktemp -d)"
trap 'rm -rf "$fresh"' EXIT
bash "$here/scripts/generate.sh" "$fresh/generated"
if ! diff -r -u "$fresh/generated" "$here/src/generated"; then
  echo "clients/node/src/generated is stale: run 'npm run generate --prefix clients/node' and commit the result" >&2
  exit 1
fi
echo "clients/node/src/generated is fresh"
