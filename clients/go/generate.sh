#!/usr/bin/env bash
# Generates the Go stubs from ../../protos with buf and local plugins (offline once the
# plugins are installed).
#   ./generate.sh           writes gen/ (commit it)
#   ./generate.sh OUTDIR    writes into OUTDIR instead (CI diffs it against gen/)
# The plugins are installed with `go install` at pinned versions into .bin/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$here/gen}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2
bin="$here/.bin"
mkdir -p "$bin"
if [ "$("$bin/protoc-gen-go" --version 2>/dev/null)" != "protoc-gen-go $PROTOC_GEN_GO_VERSION" ]; then
  GOBIN="$bin" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
fi
if [ "$("$bin/protoc-gen-go-grpc" --version 2>/dev/null)" != "protoc-gen-go-grpc ${PROTOC_GEN_GO_GRPC_VERSION#v}" ]; then
  GOBIN="$bin" go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
fi

buf="${BUF:-$root/.ci/tools/node_modules/.bin/buf}"
if [ ! -x "$buf" ]; then buf="$(command -v buf)"; fi
cd "$here"
rm -rf "$out/backchannel"
PATH="$bin:$PATH" "$buf" generate --template buf.gen.yaml --output "$out"
