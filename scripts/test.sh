#!/usr/bin/env bash
# Runs every Riffle test: installs the client tools the end-to-end tests
# use, vets, then runs all Go tests (unit, fuzz seeds, end-to-end against
# real riffle processes), then the same again with the race detector: the
# packages under -race, and the end-to-end suite against a -race broker
# (real clients find races unit tests miss). RIFFLE_LONG=1 makes the
# randomized crash tests a soak.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
go vet ./...
go test -count=1 -timeout 60m ./...

go test -race -count=1 -timeout 30m $(go list ./... | grep -v /e2e)
race_dir=$(mktemp -d)
trap 'rm -rf "$race_dir"' EXIT
go build -race -o "$race_dir/riffle" ./daemon/cmd/riffle
RIFFLE_BIN="$race_dir/riffle" go test -count=1 -timeout 30m ./e2e/

# The load-test harness is its own module; its tests build riffle, run a
# short scenario and, as root, a 60 s fault-injection run (longer ones
# with RIFFLE_LONG=1).
(cd benchmarks && go vet ./... && go test -count=1 -timeout 45m ./...)
