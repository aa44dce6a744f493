#!/usr/bin/env bash
# Runs every Riffle test: installs the client tools the end-to-end tests
# use, vets, then runs all Go tests (unit, fuzz seeds, end-to-end against
# real riffle processes). Long soak and fuzz runs need RIFFLE_LONG=1.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
go vet ./...
go test -count=1 -timeout 60m ./...
# The load-test harness is its own module; its test builds riffle and runs a short scenario.
(cd benchmarks && go vet ./... && go test -count=1 ./...)
