#!/usr/bin/env bash
# Regenerates src/generated from protos/ (the service) and clients/node/protos (the
# google.rpc error details), with ts-proto run by buf; both pinned in package.json.
# The only way the generated code is ever written: CI runs this into a temporary folder
# (scripts/check-generated.sh) and fails if the committed code differs.
#   scripts/generate.sh [OUTPUT_DIR]   (default: src/generated)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$here/src/generated}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
cd "$here"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
node_modules/.bin/buf generate --template buf.gen.yaml -o "$work"
rm -rf "$out"
mkdir -p "$(dirname "$out")"
mv "$work/generated" "$out"
