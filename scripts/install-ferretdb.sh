#!/usr/bin/env bash
# Builds FerretDB 1.24.2 (a MongoDB-wire server over SQLite) from the Go module proxy into
# $1 (default ./.tools/bin). The proxy's module zip lacks build/version/version.txt, which the
# binary embeds and checks at start-up, so the module is copied, the file written, and the build
# pointed at the copy with a replace directive. `go install ...@v1.24.2` also fails here because
# the proxy refuses the module's version list (needed for its deprecation check).
set -euo pipefail
out=${1:-$(pwd)/.tools/bin}
command -v go >/dev/null || { echo "install-ferretdb: go not found, skipping" >&2; exit 1; }
[ -x "$out/ferretdb" ] && { echo "install-ferretdb: $out/ferretdb already built"; exit 0; }
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
export GOFLAGS=-mod=mod
go mod init fdbbuild >/dev/null 2>&1
go mod download -json github.com/FerretDB/FerretDB@v1.24.2 > dl.json
src=$(python3 -c 'import json,sys; print(json.load(open("dl.json"))["Dir"])')
cp -r "$src" ferretdb-src
chmod -R u+w ferretdb-src
echo v1.24.2 > ferretdb-src/build/version/version.txt
cat > go.mod <<EOM
module fdbbuild

go 1.22

require github.com/FerretDB/FerretDB v1.24.2

replace github.com/FerretDB/FerretDB => ./ferretdb-src
EOM
cat > tools.go <<'EOM'
//go:build tools

package tools

import _ "github.com/FerretDB/FerretDB/cmd/ferretdb"
EOM
go mod tidy >/dev/null 2>&1
mkdir -p "$out"
go build -o "$out/ferretdb" github.com/FerretDB/FerretDB/cmd/ferretdb
echo "install-ferretdb: built $out/ferretdb"
