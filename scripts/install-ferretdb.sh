#!/usr/bin/env bash
# Builds FerretDB 1.24.2 (a MongoDB-wire server over SQLite) from the Go module proxy into
# $1 (default ./.tools/bin). The proxy's module zip lacks build/version/version.txt, which the
# binary embeds and checks at start-up, so the module is copied, the file written, and the build
# pointed at the copy with a replace directive. `go install ...@v1.24.2` also fails here because
# the proxy refuses the module's version list (needed for its deprecation check).
set -euo pipefail
out=${1:-$(pwd)/.tools/bin}
[ -x "$out/ferretdb" ] && "$out/ferretdb" --version >/dev/null 2>&1 && { echo "install-ferretdb: $out/ferretdb already built"; exit 0; }
command -v go >/dev/null || { echo "install-ferretdb: go not found (apt-get install golang-go, or Go 1.22+ on PATH)" >&2; exit 1; }
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
export GOFLAGS=-mod=mod
goversion=$(go env GOVERSION 2>/dev/null || go version | awk '{print $3}')
minor=$(sed -nE 's/^go1\.([0-9]+).*/\1/p' <<<"$goversion")
if [ -z "$minor" ] || [ "$minor" -lt 22 ]; then
  # FerretDB 1.24 needs Go 1.22+. An older go (Debian 12 has 1.19) fetches the Go 1.22 toolchain,
  # which the Go module proxy serves as the module golang.org/toolchain, and builds with that.
  echo "install-ferretdb: $goversion is too old for FerretDB 1.24; fetching the Go 1.22 toolchain module"
  go mod download -json golang.org/toolchain@v0.0.1-go1.22.12.linux-amd64 > toolchain.json
  tdir=$(sed -nE 's/^[[:space:]]*"Dir": "(.*)",?$/\1/p' toolchain.json)
  [ -d "$tdir" ] || { echo "install-ferretdb: the toolchain download named no directory:" >&2; cat toolchain.json >&2; exit 1; }
  # The module cache keeps no exec bits; the toolchain is made runnable in a copy.
  cp -r "$tdir" "$work/go"
  chmod -R u+w "$work/go"
  chmod +x "$work"/go/bin/* "$work"/go/pkg/tool/*/*
  export GOROOT="$work/go" GOTOOLCHAIN=local PATH="$work/go/bin:$PATH"
  echo "install-ferretdb: building with $(go version)"
fi
# Pure Go (its SQLite is modernc.org/sqlite): no C compiler needed.
export CGO_ENABLED=0
go mod init fdbbuild >/dev/null 2>&1
go mod download -json github.com/FerretDB/FerretDB@v1.24.2 > dl.json
src=$(sed -nE 's/^[[:space:]]*"Dir": "(.*)",?$/\1/p' dl.json)
[ -d "$src" ] || { echo "install-ferretdb: the module download named no directory:" >&2; cat dl.json >&2; exit 1; }
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
